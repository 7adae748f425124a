"""Accuracy next to cost for trained detection runs:
``python tools/analysis_tools/dset_report.py WORK_DIR [WORK_DIR ...]
--costs work_dirs/dset_costs/r18/costs.json``.

Per run (a work dir named after its config, e.g. ``work_dirs/dset_r18``):
COCO bbox mAP@[.5:.95], mAP@0.5 and mAP@0.75 from its ``eval_results.json``
(the test result when there is one, else the last validation), and params,
GFLOPs and FPS (batch 1, ``1000 / latency``) of the same config from a
``dset_costs.py`` report at ``--shape``. Written to ``--out-dir``:
``report.md``, ``report.json`` and ``report.png`` (mAP against GFLOPs and
against FPS).
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from mmengine.logging import print_log  # noqa: E402

from featsel.analysis.flops import FLOPS_CONVENTION  # noqa: E402
from featsel.analysis.table import Table, format_table  # noqa: E402
from featsel.engine.hooks import read_eval_results  # noqa: E402
from featsel.utils import (ConfigError, dump_json_atomic,  # noqa: E402
                           write_bytes_atomic)
from featsel.utils.cli import run_cli  # noqa: E402

#: report column -> key of mmdet's CocoMetric
METRICS = {
    'mAP': 'coco/bbox_mAP',
    'mAP@0.5': 'coco/bbox_mAP_50',
    'mAP@0.75': 'coco/bbox_mAP_75',
}


def read_costs(path: str, shape: str) -> Dict[str, dict]:
    """Params, GFLOPs and FPS per model name of a ``dset_costs`` report."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} does not exist: run tools/analysis_tools/dset_costs.py '
            'first')
    with open(path) as f:
        report = json.load(f)
    if shape not in report['shapes']:
        raise ConfigError(f'--shape {shape} is not in {path}; it has '
                          f'{report["shapes"]}')
    costs = {}
    for name, model in report['models'].items():
        at = model['shapes'][shape]
        costs[name] = dict(params_m=model['params_m'],
                           gflops=at['gflops']['total'],
                           fps=1e3 / at['latency_ms'])
    return costs


def collect(work_dirs: Sequence[str], costs: Dict[str, dict]) -> List[dict]:
    rows = []
    for work_dir in work_dirs:
        name = osp.basename(osp.normpath(work_dir))
        metrics, source = read_eval_results(work_dir)
        row = dict(name=name, source=source)
        row.update({col: metrics.get(key) for col, key in METRICS.items()})
        if name not in costs:
            print_log(f'no cost entry for "{name}" in the costs report',
                      logger='current')
        row.update(costs.get(name, {}))
        rows.append(row)
    return rows


def _cell(value: Optional[float], digits: int) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def format_markdown(rows: Sequence[dict], shape: str) -> str:
    header = ['run'] + list(METRICS) + [
        'params (M)', f'GFLOPs ({shape})', f'FPS ({shape}, batch 1)',
        'metrics from']
    cells = [[r['name']] + [_cell(r[c], 3) for c in METRICS] + [
        _cell(r.get('params_m'), 2), _cell(r.get('gflops'), 1),
        _cell(r.get('fps'), 2), r['source']
    ] for r in rows]
    return format_table(Table(header, cells, notes=[FLOPS_CONVENTION]),
                        'markdown')


def plot(rows: Sequence[dict], shape: str, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    points = [r for r in rows if r['mAP'] is not None and 'gflops' in r]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], 'gflops', f'GFLOPs at {shape}'),
                           (axes[1], 'fps', f'FPS at {shape}, batch 1')):
        for r in points:
            ax.scatter(r[key], r['mAP'])
            ax.annotate(r['name'], (r[key], r['mAP']), fontsize=8,
                        xytext=(4, 4), textcoords='offset points')
        ax.set_xlabel(label)
        ax.set_ylabel('bbox mAP@[.5:.95]')
        ax.grid(alpha=0.3)
    fig.tight_layout()
    from io import BytesIO
    buffer = BytesIO()
    fig.savefig(buffer, format='png', dpi=120)
    plt.close(fig)
    write_bytes_atomic(buffer.getvalue(), path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='mAP next to params, GFLOPs and FPS of detection runs')
    parser.add_argument('work_dirs', nargs='+',
                        help='work dirs named after their configs')
    parser.add_argument('--costs', required=True,
                        help='costs.json written by dset_costs.py')
    parser.add_argument('--shape', default='640x640',
                        help='input size of the cost columns (HxW)')
    parser.add_argument('--out-dir', default=osp.join('work_dirs',
                                                      'dset_report'))
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    rows = collect(args.work_dirs, read_costs(args.costs, args.shape))
    markdown = format_markdown(rows, args.shape)
    print(markdown)
    dump_json_atomic(rows, osp.join(args.out_dir, 'report.json'))
    write_bytes_atomic((markdown + '\n').encode(),
                       osp.join(args.out_dir, 'report.md'))
    plot(rows, args.shape, osp.join(args.out_dir, 'report.png'))
    print_log(f'wrote report.md, report.json and report.png to '
              f'{args.out_dir}', logger='current')


if __name__ == '__main__':
    run_cli(main)
