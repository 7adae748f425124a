"""Paired comparison of two restoration runs on the same images:
``python tools/analysis_tools/restoration_compare.py RUN_A RUN_B``.

Each run is a ``per_image.jsonl`` written by ``RestorationMetric`` (or the
folder holding it). Per metric, one table: per task and over tasks
("macro", the unweighted mean of the task means), the degraded input (when
the records carry it), run A and run B with bootstrap 95 % intervals, the
difference B - A with its interval, the paired t-test and Cohen's d for
paired samples (``d_z``). Printed as Markdown and written to ``--out-dir``
as ``restoration_compare.md`` and ``restoration_compare.json``.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from featsel.analysis.table import (Table, number, render,  # noqa: E402
                                    write_report)
from featsel.evaluation.restoration_report import (  # noqa: E402
    METRIC_KEYS, PER_IMAGE_FILE, SUMMARY_FILE, compare_runs, format_mean_ci,
    read_per_image)
from featsel.utils.cli import (add_bootstrap_args, bootstrap_kwargs,  # noqa: E402
                                run_cli)

_DIGITS = dict(psnr=2, ssim=4, lpips=4)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Paired comparison of two restoration runs (per task '
        'and macro, with bootstrap CIs, paired t-test and Cohen\'s d_z)')
    parser.add_argument('run_a', help='per_image.jsonl of the reference '
                        'run (or its folder)')
    parser.add_argument('run_b', help='per_image.jsonl of the run compared '
                        'with it (or its folder)')
    parser.add_argument('--names', nargs=2, metavar=('A', 'B'),
                        help='column names (default: the "model" of each '
                        'run\'s summary.json, else A and B)')
    parser.add_argument('--metrics', nargs='+', choices=METRIC_KEYS,
                        default=['psnr', 'ssim'], help='metrics to compare')
    parser.add_argument('--out-dir', help='write restoration_compare.md and '
                        '.json here')
    add_bootstrap_args(parser)
    return parser.parse_args(argv)


def _records_path(path: str) -> str:
    return osp.join(path, PER_IMAGE_FILE) if osp.isdir(path) else path


def _run_name(path: str, default: str) -> str:
    """The ``model`` of the summary beside ``path``, else ``default``."""
    summary = osp.join(osp.dirname(path), SUMMARY_FILE)
    if osp.isfile(summary):
        with open(summary) as f:
            return str(json.load(f).get('model') or default)
    return default


def comparison_table(metric: str, result: dict, names: Sequence[str],
                     confidence: float) -> Table:
    """The Markdown table of one metric."""
    digits = _DIGITS[metric]
    a, b = names
    show_input = any(row['input'] is not None for row in result.values())
    header = ['task', 'n'] + (['input'] if show_input else []) + [
        a, b, f'{b} - {a}', 't', 'p', 'd_z']
    rows = []
    for task, row in result.items():
        rows.append([task, row['n']] +
                    ([format_mean_ci(row['input'], digits)]
                     if show_input else []) +
                    [format_mean_ci(row['a'], digits),
                     format_mean_ci(row['b'], digits),
                     format_mean_ci(row['diff'], digits), number(row['t'], 3),
                     number(row['p'], 2), number(row['d_z'], 3)])
    return Table(header, rows, title=metric.upper(), notes=[
        f'mean [{confidence:.0%} percentile bootstrap CI]; macro: mean of '
        'the task means, CI stratified by task',
        f'paired two-sided t-test and d_z = mean(d) / sd(d) of the per-image'
        f' differences d = {b} - {a} (macro: all images pooled)'])


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    paths = [_records_path(p) for p in (args.run_a, args.run_b)]
    names = args.names or [_run_name(p, d) for p, d in zip(paths, 'AB')]
    if names[0] == names[1]:
        names = [f'{names[0]} (A)', f'{names[1]} (B)']
    records = [read_per_image(p) for p in paths]
    boot = bootstrap_kwargs(args)
    results = {metric: compare_runs(*records, metric=metric, **boot)
               for metric in args.metrics}
    tables = [comparison_table(metric, result, names, args.confidence)
              for metric, result in results.items()]
    print(render(tables, 'markdown'), end='')
    if args.out_dir:
        report = dict(runs=dict(zip(('a', 'b'), paths)), names=names,
                      statistics=boot, results=results)
        write_report(report, tables,
                     osp.join(args.out_dir, 'restoration_compare.json'),
                     osp.join(args.out_dir, 'restoration_compare.md'))


if __name__ == '__main__':
    run_cli(main)
