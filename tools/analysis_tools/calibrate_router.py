"""Choose the MoE-I router by validation and calibrate it: ``python
tools/analysis_tools/calibrate_router.py --router CONFIG CKPT [--router
CONFIG CKPT ...] --out-dir DIR``.

1. **Choice** (seed 002 §3.2, beta by validation). Each ``--router``
   (a trained :class:`~featsel.models.restorers.UtilityRouterModel`, e.g.
   the runs of ``router_global_b{20,50,80}_demo.py``) routes the images of
   its config's validation data set (the held-out scenes of the router's
   training split) at ``T = 1``; the one with the smallest oracle gap (macro
   PSNR of the oracle expert minus that of the routed experts) is kept, the
   smaller NLL on ties (:func:`featsel.evaluation.metrics.router_scores`).
2. **Calibration** on a separate split (the chosen config's test data set,
   the restoration set's ``val`` split by default, or
   ``--calibration-split``): temperature ``T`` by minimising the NLL
   against the oracle experts, then ``tau`` with the best kept accuracy
   among those abstaining on at most ``--max-abstention`` of the images
   (:func:`featsel.evaluation.calibration.calibrate`).

Written to ``--out-dir``: ``calibration.json`` (``T``, ``tau``, ECE and NLL
before and after, abstention, kept accuracy; what inference reads) and
``router.json`` (the chosen config and checkpoint, its beta and input, the
experts, the global source of its labels, and every candidate's validation
scores). :class:`featsel.apis.moe_inference.MoEIRestorer` reads the folder.
"""
import argparse
import inspect
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from featsel.analysis.table import Table, number, render  # noqa: E402
from featsel.apis import init_model  # noqa: E402
from featsel.apis.moe_inference import (CALIBRATION_FILE,  # noqa: E402
                                        ROUTER_FILE)
from featsel.evaluation.calibration import (MAX_ABSTENTION,  # noqa: E402
                                            calibrate, fit_temperature,
                                            write_calibration)
from featsel.evaluation.metrics.router_metric import \
    router_scores  # noqa: E402
from featsel.registry import DATASETS  # noqa: E402
from featsel.utils import ConfigError, dump_json_atomic  # noqa: E402
from featsel.utils.cli import run_cli  # noqa: E402
from tools.analysis_tools.utility_labels import SETTINGS_FILE  # noqa: E402

#: the temperatures ``calibrate`` searches (fit_temperature's default)
T_RANGE = inspect.signature(fit_temperature).parameters['t_range'].default
#: how the router is chosen, for router.json
CRITERION = ('smallest oracle gap (macro PSNR, dB) on the validation data '
             'set at T = 1, then smallest NLL')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Choose a MoE-I router by validation (beta) and '
        'calibrate it (temperature, abstention threshold)')
    parser.add_argument('--router', nargs=2, action='append', required=True,
                        metavar=('CONFIG', 'CHECKPOINT'),
                        help='a trained router; repeat for the candidates')
    parser.add_argument('--out-dir', required=True,
                        help=f'folder of {ROUTER_FILE} and '
                        f'{CALIBRATION_FILE}')
    parser.add_argument('--labels', help='utility-label file (default: the '
                        'configs\' data_root + ann_file)')
    parser.add_argument('--calibration-split',
                        help='label split to calibrate on (default: the '
                        'chosen config\'s test data set, the "val" split)')
    parser.add_argument('--max-abstention', type=float,
                        default=MAX_ABSTENTION,
                        help='cap on the abstention rate (default 0.1)')
    parser.add_argument('--device', default='cpu', help='torch device')
    return parser.parse_args(argv)


def build_labels(dataset_cfg: dict, labels: Optional[str], **overrides):
    """A :class:`~featsel.datasets.RouterLabelsDataset` of a config, on
    ``labels`` when given."""
    cfg = dict(dataset_cfg, **overrides)
    if labels is not None:
        cfg.update(data_root='', ann_file=osp.abspath(labels))
    with DefaultScope.overwrite_default_scope('featsel'):
        return DATASETS.build(cfg)


def route_dataset(model, dataset, batch_size: int = 64) -> Dict[str, object]:
    """Logits of ``model`` on every item, with the labels of each.

    Returns:
        dict: ``logits`` (N, K), ``soft_labels`` (N, K), ``psnr`` (N, K),
        ``dense_psnr`` (N,), ``oracle`` (N,), ``tasks`` (N,), ``ids``.
    """
    rows: Dict[str, List] = {k: [] for k in (
        'logits', 'soft_labels', 'psnr', 'dense_psnr', 'oracle', 'tasks',
        'ids')}
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(
                start, min(start + batch_size, len(dataset)))]
            data = model.data_preprocessor(pseudo_collate(items))
            rows['logits'].append(model.logits(data['inputs']).cpu())
            for sample in data['data_samples']:
                rows['soft_labels'].append(sample.soft_label.cpu())
                rows['psnr'].append(sample.psnr.cpu())
                rows['dense_psnr'].append(sample.dense_psnr)
                rows['oracle'].append(sample.oracle)
                rows['tasks'].append(sample.task)
                rows['ids'].append(sample.img_id)
    return dict(logits=torch.cat(rows['logits']).double().numpy(),
                soft_labels=torch.stack(rows['soft_labels']).double().numpy(),
                psnr=torch.stack(rows['psnr']).numpy(),
                dense_psnr=np.array(rows['dense_psnr']),
                oracle=np.array(rows['oracle'], np.int64),
                tasks=rows['tasks'], ids=rows['ids'])


def validate(config: str, checkpoint: str, labels: Optional[str],
             device: str) -> dict:
    """One candidate's validation scores (and its model and config)."""
    model = init_model(config, checkpoint, device)
    cfg = model.cfg
    dataset = build_labels(cfg.val_dataloader.dataset, labels)
    if tuple(dataset.metainfo['experts']) != tuple(model.experts):
        raise ConfigError(f'{config}: the labels are ordered '
                          f'{list(dataset.metainfo["experts"])}, the router '
                          f'{list(model.experts)}')
    out = route_dataset(model, dataset)
    scores = router_scores(out['logits'], out['soft_labels'], out['psnr'],
                           out['dense_psnr'], out['tasks'])
    return dict(config=config, checkpoint=checkpoint,
                beta=float(cfg.train_dataloader.dataset.beta),
                input=model.router.input, n=len(dataset),
                labels=dataset.ann_file, scores=scores, model=model)


def choose(candidates: List[dict]) -> int:
    """Index of the candidate :data:`CRITERION` picks."""
    keys = [(round(c['scores']['oracle_gap'], 9), c['scores']['nll'])
            for c in candidates]
    return min(range(len(keys)), key=keys.__getitem__)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    candidates = [validate(config, checkpoint, args.labels, args.device)
                  for config, checkpoint in args.router]
    best = candidates[choose(candidates)]
    model, cfg = best['model'], best['model'].cfg
    overrides = {} if args.calibration_split is None else dict(
        split=args.calibration_split, subset='all')
    dataset = build_labels(cfg.test_dataloader.dataset, args.labels,
                           **overrides)
    out = route_dataset(model, dataset)
    record, search = calibrate(
        out['logits'], out['oracle'], args.max_abstention,
        split_sizes=dict(calibration=len(dataset), validation=best['n']))
    write_calibration(record, osp.join(args.out_dir, CALIBRATION_FILE))
    settings_path = osp.join(osp.dirname(best['labels']), SETTINGS_FILE)
    global_source = 'dense'
    if osp.isfile(settings_path):
        with open(settings_path) as f:
            global_source = json.load(f)['settings'].get('global_source',
                                                          global_source)
    info = dict(
        config=best['config'], checkpoint=best['checkpoint'],
        beta=best['beta'], input=best['input'], experts=list(model.experts),
        global_source=global_source, labels=best['labels'],
        calibration_split=sorted(set(
            dataset.get_data_info(i)['split'] for i in range(len(dataset)))),
        criterion=CRITERION,
        candidates=[{k: c[k] for k in ('config', 'checkpoint', 'beta',
                                       'input', 'n', 'scores')}
                    for c in candidates],
        coverage=dict(tau=search.curve.tau.tolist(),
                      abstention=search.curve.abstention.tolist(),
                      kept_accuracy=search.curve.kept_accuracy.tolist()))
    dump_json_atomic(info, osp.join(args.out_dir, ROUTER_FILE))
    table = Table(
        ['config', 'beta', 'input', 'n', 'accuracy', 'NLL', 'ECE',
         'oracle gap (dB)'],
        [[osp.basename(c['config']), number(c['beta']), c['input'], c['n'],
          number(c['scores']['accuracy']), number(c['scores']['nll']),
          number(c['scores']['ece']), number(c['scores']['oracle_gap'])]
         for c in candidates],
        title='Router candidates on the validation data set (T = 1)',
        notes=[f'chosen: {osp.basename(best["config"])} ({CRITERION})'])
    calib = Table(
        ['T', 'tau', 'abstention', 'kept accuracy', 'ECE before',
         'ECE after', 'NLL before', 'NLL after', 'images'],
        [[number(record.temperature), number(record.tau),
          number(record.abstention), number(record.kept_accuracy),
          number(record.ece_before), number(record.ece_after),
          number(record.nll_before), number(record.nll_after),
          len(dataset)]],
        title='Calibration', notes=[f'written to {args.out_dir}'])
    low, high = T_RANGE
    if not low * (1 + 1e-6) < record.temperature < high * (1 - 1e-6):
        calib.notes.append(
            f'T is at an end of the search range [{low:g}, {high:g}]: the '
            'NLL would fall further outside it, so the calibrated router '
            'stays under- (or over-) confident')
    print(render([table, calib]))


if __name__ == '__main__':
    run_cli(main)
