"""Does token selection matter? Test a trained ReID model twice:
``python tools/analysis_tools/reid_selection_check.py CONFIG CHECKPOINT``.

The test set runs once with the tokens each selector chooses
(``selection='score'``) and once with a random set of the same size per
sample and modality (``selection='random'``, seeded by ``--seed``), the
same weights otherwise. Reported:

* the relative change of each sample's inference feature,
  ``||f_random - f_score|| / ||f_score||``: mean, median and maximum over
  the test set, for the whole feature and for each branch of
  ``model.test_branches`` (the branches are equally wide; the global one
  does not depend on the selection and shows 0);
* the metrics of both runs (mAP, CMC, mINP) and their differences
  ``random - score``.

A selection that matters changes the selection branch's feature and costs
mAP when replaced by chance; a change near zero says the selector's choice
is not what the feature rests on. Printed as a table and written as JSON
to ``--out`` (default ``work_dirs/reid_selection_check/<config>.json``).

Example::

    python tools/analysis_tools/reid_selection_check.py \\
        configs/reid/sdtps_vit_tiny_demo.py \\
        work_dirs/sdtps_vit_tiny_demo/best_mAP_epoch_40.pth
"""
import argparse
import os.path as osp
import sys
from statistics import median
from typing import Dict, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.evaluator import Evaluator  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from featsel.analysis.compare import add_device_args  # noqa: E402
from featsel.analysis.table import (Table, format_table,  # noqa: E402
                                    write_report)
from featsel.analysis.timing import check_device, num_threads  # noqa: E402
from featsel.apis import init_model  # noqa: E402
from featsel.engine.compat import trust_checkpoints  # noqa: E402
from featsel.utils import ConfigError  # noqa: E402
from featsel.utils.cli import CfgOptionsAction, run_cli  # noqa: E402

MODES = ('score', 'random')


def set_selection(model: nn.Module, mode: str) -> int:
    """Set ``selection`` on every module that has one; returns how many."""
    selectors = [m for m in model.modules() if hasattr(m, 'selection')]
    for module in selectors:
        module.selection = mode
    return len(selectors)


def relative_change(reference: Tensor, other: Tensor) -> Tensor:
    """``||other_i - reference_i|| / ||reference_i||`` per row.

    Args:
        reference (Tensor): (N, D) features.
        other (Tensor): (N, D) features of the same samples.

    Returns:
        Tensor: (N,); 0 where both rows are zero.
    """
    diff = (other - reference).norm(dim=1)
    norm = reference.norm(dim=1)
    return torch.where(diff == 0, torch.zeros_like(diff),
                       diff / norm.clamp_min(torch.finfo(norm.dtype).tiny))


def summarise(change: Tensor) -> Dict[str, float]:
    """Mean, median and maximum of a per-sample change."""
    values = change.tolist()
    return dict(mean=float(change.mean()), median=float(median(values)),
                max=float(change.max()))


def feature_changes(score: Tensor, random: Tensor,
                    branches: Sequence[str]) -> Dict[str, dict]:
    """:func:`summarise` of :func:`relative_change` for the whole feature
    (``'feature'``) and each of ``branches`` (equal-width column blocks,
    in order)."""
    changes = {'feature': summarise(relative_change(score, random))}
    if len(branches) > 1:
        if score.shape[1] % len(branches):
            raise ConfigError(
                f'the feature has {score.shape[1]} channels, which do not '
                f'split into the {len(branches)} test branches {branches}')
        for name, s, r in zip(branches,
                              score.chunk(len(branches), dim=1),
                              random.chunk(len(branches), dim=1)):
            changes[name] = summarise(relative_change(s, r))
    return changes


def run_test(model: nn.Module, dataloader,
             evaluator: Evaluator) -> Tuple[Tensor, Dict[str, float]]:
    """One pass over the test set: the inference features ``(N, D)`` in
    data order and the metrics."""
    features = []
    for data in dataloader:
        with torch.no_grad():
            outputs = model.test_step(data)
        features.append(torch.stack([o.pred_feature.float().cpu()
                                     for o in outputs]))
        evaluator.process(outputs, data)
    metrics = evaluator.evaluate(len(dataloader.dataset))
    return torch.cat(features), {k: float(v) for k, v in metrics.items()}


def check_selection(model: nn.Module, seed: int = 0) -> dict:
    """Run ``model.cfg``'s test set with each selection mode.

    Args:
        model (nn.Module): A ReID model from :func:`featsel.apis
            .init_model` whose selectors take ``selection``.
        seed (int): Seed of the random selection.

    Returns:
        dict: ``metrics`` (mode -> metrics), ``delta`` (random - score per
        metric), ``feature_change`` (see :func:`feature_changes`) and
        ``num_samples``.
    """
    cfg = model.cfg
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'featsel')):
        dataloader = Runner.build_dataloader(cfg.test_dataloader)
        evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = dataloader.dataset.metainfo
    features, metrics = {}, {}
    try:
        for mode in MODES:
            if set_selection(model, mode) == 0:
                raise ConfigError(
                    f'the model of {cfg.filename} has no token selector '
                    'with a selection mode (model.selector is None?): '
                    'there is no selection to replace')
            torch.manual_seed(seed)
            print_log(f'testing with selection={mode!r} ...',
                      logger='current')
            features[mode], metrics[mode] = run_test(model, dataloader,
                                                     evaluator)
    finally:
        set_selection(model, 'score')
    branches = list(getattr(model, 'test_branches', ()))
    return dict(
        num_samples=len(features['score']), seed=seed, metrics=metrics,
        delta={k: metrics['random'][k] - v
               for k, v in metrics['score'].items()},
        feature_change=feature_changes(features['score'],
                                       features['random'], branches))


def result_table(result: dict) -> Table:
    """Metrics per selection and the difference; feature change as notes."""
    keys = list(result['metrics']['score'])
    rows = [[mode] + [f'{result["metrics"][mode][k]:.2f}' for k in keys]
            for mode in MODES]
    rows.append(['random - score'] + [f'{result["delta"][k]:+.2f}'
                                      for k in keys])
    notes = [f'{result["num_samples"]} test samples; random selection '
             f'seeded with {result["seed"]}']
    for name, c in result['feature_change'].items():
        notes.append(
            f'relative change of the {name}'
            f"{' branch' if name != 'feature' else ''} "
            f"||f_random - f_score|| / ||f_score||: mean {c['mean']:.4f}, "
            f"median {c['median']:.4f}, max {c['max']:.4f}")
    return Table(['selection'] + keys, rows, notes=notes,
                 title='Selected against random tokens (same weights)')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test a ReID model with its token selection and with a '
        'random one of the same size')
    parser.add_argument('config', help='config of the trained model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random selection')
    add_device_args(parser)
    parser.add_argument('--out', help='JSON report (default: work_dirs/'
                        'reid_selection_check/<config name>.json)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override config settings, e.g. test_dataloader.batch_size=32')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='allow a checkpoint that needs full unpickling (which runs code '
        'stored in the file)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.trust_checkpoint:
        trust_checkpoints()
    model = init_model(args.config, args.checkpoint,
                       check_device(args.device), args.cfg_options)
    with num_threads(args.threads):
        result = dict(config=args.config, checkpoint=args.checkpoint,
                      **check_selection(model, args.seed))
    table = result_table(result)
    out = args.out or osp.join(
        'work_dirs', 'reid_selection_check',
        f'{osp.splitext(osp.basename(args.config))[0]}.json')
    write_report(result, [table], out)
    print(format_table(table))
    print_log(f'report written to {out}', logger='current')
    return result


if __name__ == '__main__':
    run_cli(main)
