"""ReID models side by side: cost, and accuracy of trained runs:
``python tools/analysis_tools/reid_compare.py BASELINE OTHER [OTHER ...]``.

Each argument is a config file or the work dir of a trained run (its
config dump is measured, its ``eval_results.json`` read: the test result
when there is one, else the last validation; ``--split`` chooses). Work
dirs of the same config (runs with other seeds) form one row: the metrics
are their mean and standard deviation, ``runs`` says how many. The first
row is the baseline every ratio and difference refers to.

In one run, on the same random batch (``--batch-size`` samples, every
modality), on ``--device``: parameters, FLOPs of one test step and its
latency (median of ``--repeats`` steps after ``--warmup``, the models timed
in turn), in total and per part (backbone, projection, selectors, heads),
with ratios to the baseline; mAP, R1 and mINP next to them, with their
differences to the baseline. The parameters and latency each model adds are
checked against ``--max-added-params`` / ``--max-added-latency`` (percent;
S2's targets: 3 and 5). FLOPs (2 per multiply-add) and timing come from
``featsel.analysis``; costs do not depend on the weights, so untrained
models are measured. Printed as Markdown and written to ``--out-dir`` as
``compare.md`` and ``compare.json``.

Examples::

    # cost of SDTPS at ViT-B/16, 256 x 128, a few timed forwards
    python tools/analysis_tools/reid_compare.py \\
        configs/reid/baseline_vit_b16_rgbnt201.py \\
        configs/reid/sdtps_vit_b16_rgbnt201.py --repeats 5
    # the demo runs (two seeds each), accuracy and cost in one table
    python tools/analysis_tools/reid_compare.py \\
        work_dirs/baseline_demo_s0 work_dirs/baseline_demo_s1 \\
        work_dirs/sdtps_demo_s0 work_dirs/sdtps_demo_s1
"""
import argparse
import glob
import os.path as osp
import sys
from dataclasses import dataclass, field
from statistics import mean, stdev
from typing import Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.logging import print_log  # noqa: E402

from featsel.analysis.compare import add_device_args  # noqa: E402
from featsel.analysis.flops import FLOPS_CONVENTION  # noqa: E402
from featsel.analysis.inference import (INFERENCE_NOTE,  # noqa: E402
                                        measure_inference)
from featsel.analysis.models import (ModelSpec, build_model,  # noqa: E402
                                     load_config)
from featsel.analysis.table import Table, render, write_report  # noqa: E402
from featsel.analysis.timing import check_device, num_threads  # noqa: E402
from featsel.engine.hooks import read_eval_results  # noqa: E402
from featsel.utils import ConfigError  # noqa: E402
from featsel.utils.cli import CfgOptionsAction, run_cli  # noqa: E402

DEFAULT_OUT = osp.join('work_dirs', 'reid_compare')
#: accuracy columns: metric key (of MultiModalReIDMetric) in report order
METRICS = ('mAP', 'R1', 'mINP')
#: cost key -> (column, unit scale, digits)
TOTALS = {'params': ('params (M)', 1e-6, 3), 'flops': ('GFLOPs', 1e-9, 3),
          'latency_ms': ('latency (ms)', 1.0, 1)}
Shape = Tuple[int, int]


@dataclass
class Row:
    """One model: a config and the trained runs of it.

    Attributes:
        name (str): The config's file name without ``.py``.
        config (str): The config file measured.
        work_dirs (list[str]): Trained runs of it (none for a config).
        runs (list[dict]): Per run: its metrics and where they come from.
    """

    name: str
    config: str
    work_dirs: List[str] = field(default_factory=list)
    runs: List[dict] = field(default_factory=list)

    def metric_summary(self) -> Dict[str, dict]:
        """Per metric of :data:`METRICS` found in every run: ``mean``,
        ``std`` (0 for one run) and ``n``."""
        summary = {}
        for key in METRICS:
            values = [r['metrics'][key] for r in self.runs
                      if key in r['metrics']]
            if values and len(values) == len(self.runs):
                summary[key] = dict(
                    mean=mean(values), n=len(values),
                    std=stdev(values) if len(values) > 1 else 0.0)
        return summary


def config_dump(work_dir: str) -> str:
    """The config the runner dumped into a work dir (its only ``*.py``)."""
    found = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if len(found) != 1:
        raise FileNotFoundError(
            f'work dir "{work_dir}" holds {len(found)} config dumps (*.py) '
            f'{[osp.basename(p) for p in found]}; expected one, as '
            'tools/train.py writes it')
    return found[0]


def _metrics(work_dir: str, split: str) -> dict:
    """The :data:`METRICS` of a run (keys may carry a metric prefix)."""
    found, source = read_eval_results(work_dir, split)
    metrics = {k.rsplit('/', 1)[-1]: float(v) for k, v in found.items()
               if k.rsplit('/', 1)[-1] in METRICS}
    return dict(work_dir=work_dir, source=source, metrics=metrics)


def collect_rows(sources: Sequence[str], split: str = 'auto') -> List[Row]:
    """Rows in order of first appearance; work dirs of one config (by
    file name) join one row."""
    rows: Dict[str, Row] = {}
    for source in sources:
        if osp.isdir(source):
            config = config_dump(source)
        elif osp.isfile(source):
            config = source
        else:
            raise FileNotFoundError(
                f'"{source}" is neither a config file nor a work dir')
        name = ModelSpec(config).name
        row = rows.setdefault(name, Row(name, config))
        if osp.isdir(source):
            row.work_dirs.append(source)
            row.runs.append(_metrics(source, split))
        elif row.work_dirs:
            raise ConfigError(f'{name} is given as a config and as work dirs '
                              f'{row.work_dirs}: give one kind')
    if len(rows) < 2:
        raise ConfigError(
            'give a baseline and at least one other config (or work dirs of '
            f'two configs); got only {list(rows)}')
    return list(rows.values())


def input_shape(spec: ModelSpec) -> Shape:
    """The backbone's ``img_size`` of a ReID config (after its overrides),
    as ``(H, W)``."""
    img_size = load_config(spec).model.get('backbone', {}).get('img_size')
    if img_size is None:
        raise ConfigError(f'{spec.config} has no model.backbone.img_size: '
                          'give the input size with --shape H W')
    if isinstance(img_size, int):
        return img_size, img_size
    return tuple(img_size)


def ratios(models: Dict[str, dict], baseline: str) -> Dict[str, dict]:
    """Each cost total over the baseline's."""
    base = models[baseline]
    return {name: {key: m[key] / base[key] if base[key] else float('nan')
                   for key in TOTALS} for name, m in models.items()}


def target_checks(report: dict) -> Dict[str, dict]:
    """Per model but the baseline: added parameters and latency in percent
    of the baseline's, and whether each is within its target."""
    targets = dict(params=report['targets']['params'],
                   latency_ms=report['targets']['latency'])
    return {
        name: {key: dict(added_percent=100 * (ratio[key] - 1),
                         target_percent=target,
                         met=100 * (ratio[key] - 1) <= target)
               for key, target in targets.items()}
        for name, ratio in report['ratios'].items()
        if name != report['baseline']
    }


def _metric_cell(entry: Optional[dict]) -> str:
    if entry is None:
        return '-'
    if entry['n'] > 1:
        return f"{entry['mean']:.2f} ± {entry['std']:.2f}"
    return f"{entry['mean']:.2f}"


def _notes(report: dict) -> List[str]:
    base = report['baseline']
    h, w = report['shape']
    notes = [f'{h}x{w} input, batch {report["batch_size"]}, '
             f'{report["device"]} ({report["threads"]} threads, torch '
             f'{report["torch"]}); {report["warmup"]} warm-up and '
             f'{report["repeats"]} timed steps per model; ratios and '
             f'differences to {base}, measured in the same run',
             FLOPS_CONVENTION, INFERENCE_NOTE]
    if any(m['metrics'] for m in report['rows'].values()):
        notes.append(
            'mAP, R1, mINP (%): mean ± standard deviation over the runs of '
            'each config (runs = seeds); metrics from '
            + '; '.join(f"{name}: {', '.join(r['source'] for r in m['runs'])}"
                        for name, m in report['rows'].items() if m['runs']))
    for name, check in report['checks'].items():
        text = ', '.join(
            f"{v['added_percent']:+.2f} % "
            f"{'params' if k == 'params' else 'latency'} (target <= "
            f"{v['target_percent']:g} %: {'met' if v['met'] else 'NOT met'})"
            for k, v in check.items())
        notes.append(f'{name} against {base}: {text}')
    for name, m in report['models'].items():
        if m['unknown_ops']:
            notes.append(f'not in the {name} FLOPs (no formula): '
                         f"{', '.join(sorted(m['unknown_ops']))}")
    return notes


def report_tables(report: dict) -> List[Table]:
    """Accuracy and cost totals with the baseline's as reference, then
    the cost of each model's parts."""
    base = report['baseline']
    rows_info, models = report['rows'], report['models']
    show = [k for k in METRICS if any(k in r['metrics']
                                      for r in rows_info.values())]
    header = ['model', 'runs'] + show + [f'Δ {k}' for k in show]
    for label, _, _ in TOTALS.values():
        header += [label, '/ base']
    rows = []
    for name, info in rows_info.items():
        summary, ref = info['metrics'], rows_info[base]['metrics']
        cells = [name, str(len(info['runs'])) if info['runs'] else '-']
        cells += [_metric_cell(summary.get(k)) for k in show]
        cells += [f"{summary[k]['mean'] - ref[k]['mean']:+.2f}"
                  if k in summary and k in ref else '-' for k in show]
        for key, (_, scale, digits) in TOTALS.items():
            cells += [f'{models[name][key] * scale:.{digits}f}',
                      f"{report['ratios'][name][key]:.4f}"]
        rows.append(cells)
    h, w = report['shape']
    totals = Table(header, rows, notes=_notes(report),
                   title=f'ReID models at {h}x{w} (batch '
                   f'{report["batch_size"]}, {report["device"]})')
    part_rows = []
    for name, m in models.items():
        total_ms = m['part_latency_ms']['total']
        for part, params in m['params_by_part'].items():
            ms = m['part_latency_ms'][part]
            part_rows.append([
                name, part, f'{params * 1e-6:.3f}',
                f"{m['flops_by_part'][part] * 1e-9:.3f}", f'{ms:.2f}',
                f'{100 * ms / total_ms if total_ms else 0.0:.1f}'])
    parts = Table(
        ['model', 'part', 'params (M)', 'GFLOPs', 'latency (ms)',
         'latency share (%)'], part_rows, title='Cost per part',
        notes=['total: the whole test step (the rest is preprocessing, '
               'pooling and concatenation); the heads run at inference only '
               'for features taken after the neck, their classifiers only '
               'in training'])
    return [totals, parts]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Cost of ReID configs (and accuracy of trained runs) '
        'against a baseline')
    parser.add_argument('sources', nargs='+', metavar='CONFIG_OR_WORK_DIR',
                        help='configs or work dirs of trained runs; the '
                        "first one's config is the baseline")
    parser.add_argument('--split', choices=['auto', 'val', 'test'],
                        default='auto',
                        help="metrics of the last validation ('val'), of the "
                        "last test ('test'), or the test when there is one")
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="input size (default: the baseline's "
                        'model.backbone.img_size)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed steps per model')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed steps per model (medians are reported)')
    add_device_args(parser)
    parser.add_argument('--max-added-params', type=float, default=3.0,
                        help='target: percent of parameters a model may add '
                        'to the baseline (default: 3)')
    parser.add_argument('--max-added-latency', type=float, default=5.0,
                        help='target: percent of latency a model may add to '
                        'the baseline (default: 5)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override settings of every measured config, e.g. '
        'model.backbone.num_layers=2')
    parser.add_argument('--out-dir', default=DEFAULT_OUT,
                        help='where compare.json and compare.md are written')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    device = check_device(args.device)
    rows = collect_rows(args.sources, args.split)
    specs = {r.name: ModelSpec(r.config, args.cfg_options) for r in rows}
    shape = (tuple(args.shape) if args.shape else
             input_shape(specs[rows[0].name]))
    with num_threads(args.threads):
        models = {name: build_model(s, device) for name, s in specs.items()}
        print_log(f'measuring {list(models)} at {shape[0]}x{shape[1]} ...',
                  logger='current')
        measured = measure_inference(models, shape, args.warmup,
                                     args.repeats, device, args.batch_size)
        threads = torch.get_num_threads()
    baseline = rows[0].name
    report = dict(
        baseline=baseline, shape=list(shape), batch_size=args.batch_size,
        device=device, threads=threads, torch=torch.__version__,
        warmup=args.warmup, repeats=args.repeats,
        flops_convention=FLOPS_CONVENTION,
        targets=dict(params=args.max_added_params,
                     latency=args.max_added_latency),
        rows={r.name: dict(config=r.config, runs=r.runs,
                           metrics=r.metric_summary()) for r in rows},
        models=measured, ratios=ratios(measured, baseline))
    report['checks'] = target_checks(report)
    tables = report_tables(report)
    print(render(tables, 'markdown'))
    json_path = osp.join(args.out_dir, 'compare.json')
    md_path = osp.join(args.out_dir, 'compare.md')
    write_report(report, tables, json_path, md_path)
    print_log(f'wrote {json_path} and {md_path}', logger='current')
    return report


if __name__ == '__main__':
    run_cli(main)
