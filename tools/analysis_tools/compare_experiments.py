"""Compare trained experiments in one table:
``python tools/analysis_tools/compare_experiments.py WORK_DIR [WORK_DIR ...]``
or ``... --configs CONFIG [CONFIG ...]``.

Per experiment: the evaluation metrics of its work dir
(``eval_results.json``: the Dice, IoU, SDF MAE and boundary F-score of
every task) and its cost measured on synthetic batches with
``featsel.analysis`` (parameters, FLOPs, train step time, inference time
per megapixel). Written to ``--out-dir``: ``compare.md`` (Markdown
table), ``compare.csv`` and ``compare.png`` (one bar chart per column).
"""
import argparse
import csv
import glob
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import MMLogger, print_log  # noqa: E402

from featsel.analysis.compare import (COSTS as ALL_COSTS,  # noqa: E402
                                      Settings, add_settings_args,
                                      cost_notes, cost_value, measure_models,
                                      settings_from_args)
from featsel.analysis.models import ModelSpec  # noqa: E402
from featsel.analysis.table import Table, format_table  # noqa: E402
from featsel.engine.hooks import read_eval_results  # noqa: E402
from featsel.utils import ConfigError  # noqa: E402
from featsel.utils.cli import run_cli  # noqa: E402

#: Metric key suffix -> (column label, better is higher); every task whose
#: metrics carry the suffix gets a column, in this order.
METRICS = {
    'dice': ('Dice', True),
    'iou': ('IoU', True),
    'mae': ('MAE', False),
    'f_score': ('F-score', True),
}
#: Cost columns: key -> (label, unit); the harness's costs but memory.
COSTS = {
    'params': ('params', 'M'),
    'flops': ('FLOPs', ALL_COSTS['flops'][1]),
    'train_step': ('train step', 'ms/batch'),
    'inference': ('inference', 'ms/MPix'),
}


@dataclass
class Experiment:
    """One row of the comparison.

    Attributes:
        name (str): Row label (the config name).
        work_dir (str): Where ``eval_results.json`` is read.
        config (str, optional): Config file the cost is measured on.
        metrics (dict): Metric key -> value; empty when not evaluated.
        source (str): Which evaluation the metrics come from.
        costs (dict): Cost key -> value in the unit of :data:`COSTS`.
    """

    name: str
    work_dir: str
    config: Optional[str] = None
    metrics: Dict[str, float] = field(default_factory=dict)
    source: str = ''
    costs: Dict[str, float] = field(default_factory=dict)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compare the metrics and costs of trained experiments')
    parser.add_argument(
        'work_dirs', nargs='*', metavar='WORK_DIR',
        help='work dirs of trained runs; the config is the <name>.py that '
        'the runner dumps there')
    parser.add_argument(
        '--configs', nargs='+', metavar='CONFIG',
        help='config files instead of work dirs; each run is read from '
        '<--work-root>/<config name>')
    parser.add_argument('--work-root', default='work_dirs',
                        help='parent of the work dirs of --configs')
    parser.add_argument('--out-dir', default=osp.join('work_dirs', 'compare'),
                        help='folder of compare.md, compare.csv, compare.png')
    parser.add_argument(
        '--split', choices=['auto', 'val', 'test'], default='auto',
        help="metrics of the last validation ('last'), of the last test "
        "('last_test'), or the test when there is one (auto)")
    parser.add_argument('--no-cost', action='store_true',
                        help='skip the parameter, FLOP and time measurement')
    add_settings_args(parser, shape_help='input size of the costs')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of every config before measuring costs')
    args = parser.parse_args(argv)
    if bool(args.work_dirs) == bool(args.configs):
        parser.error('give either WORK_DIR ... or --configs CONFIG ...')
    return args


# ---------------------------------------------------------------------- #
# Experiments and their metrics
# ---------------------------------------------------------------------- #
def _name(path: str) -> str:
    return osp.splitext(osp.basename(osp.normpath(path)))[0]


def dumped_config(work_dir: str) -> str:
    """The config the runner dumped into a work dir: ``<name>.py`` for a
    work dir named ``<name>``, else its only ``*.py`` file."""
    path = osp.join(work_dir, f'{_name(work_dir)}.py')
    if osp.isfile(path):
        return path
    found = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(
        f'no config dump in "{work_dir}": expected "{path}" or a single '
        f'*.py file, found {[osp.basename(p) for p in found]}; pass the '
        'config with --configs instead')


def find_experiments(work_dirs: Sequence[str] = (),
                     configs: Sequence[str] = (),
                     work_root: str = 'work_dirs',
                     need_config: bool = True) -> List[Experiment]:
    """Rows from work dirs (config = their dump) or from config files
    (work dir = ``<work_root>/<config name>``)."""
    experiments = []
    for work_dir in work_dirs:
        if not osp.isdir(work_dir):
            raise FileNotFoundError(f'work dir "{work_dir}" does not exist')
        experiments.append(Experiment(
            _name(work_dir), work_dir,
            dumped_config(work_dir) if need_config else None))
    for config in configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file "{config}" does not exist')
        experiments.append(Experiment(
            _name(config), osp.join(work_root, _name(config)), config))
    names = [e.name for e in experiments]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f'experiments {twice} appear twice')
    return experiments


def metric_columns(experiments: Sequence[Experiment]) -> List[str]:
    """Metric keys to show: ``<task>/<suffix>`` for the suffixes of
    :data:`METRICS`, grouped by suffix, tasks in order of appearance."""
    keys = []
    for e in experiments:
        keys += [k for k in e.metrics if k not in keys]
    return [k for suffix in METRICS for k in keys
            if k.rsplit('/', 1)[-1] == suffix]


# ---------------------------------------------------------------------- #
# Costs
# ---------------------------------------------------------------------- #
def measure_costs(experiments: Sequence[Experiment], settings: Settings,
                  cfg_options: Optional[dict] = None) -> List[str]:
    """Fill ``costs`` of every experiment in the units of :data:`COSTS`:
    parameters (M), FLOPs of one image (G), median train step (ms per
    batch) and median ``predict`` step (ms per megapixel); the models take
    turns step by step. Returns the notes of the measurement."""
    values = measure_models(
        {e.name: ModelSpec(e.config, cfg_options) for e in experiments},
        settings, memory=False)
    for e in experiments:
        e.costs.update({key: cost_value(values[e.name], key)
                        for key in COSTS})
    return cost_notes(settings, values, memory=False)


# ---------------------------------------------------------------------- #
# Table, CSV and chart
# ---------------------------------------------------------------------- #
def columns(experiments: Sequence[Experiment]) -> List[Tuple[str, str]]:
    """``(key, header)`` of every value column; cost keys are prefixed
    with ``cost:``."""
    cols = [(k, f'{k.rsplit("/", 1)[0]} {METRICS[k.rsplit("/", 1)[1]][0]}')
            for k in metric_columns(experiments)]
    measured = [k for k in COSTS if any(k in e.costs for e in experiments)]
    cols += [(f'cost:{k}', f'{COSTS[k][0]} ({COSTS[k][1]})')
             for k in measured]
    return cols


def value(e: Experiment, key: str) -> Optional[float]:
    if key.startswith('cost:'):
        return e.costs.get(key[5:])
    return e.metrics.get(key)


def _best(experiments: Sequence[Experiment], key: str) -> Optional[float]:
    """Best value of a metric column (None for cost columns)."""
    if key.startswith('cost:'):
        return None
    values = [v for v in (value(e, key) for e in experiments)
              if v is not None]
    if not values:
        return None
    higher = METRICS[key.rsplit('/', 1)[1]][1]
    return max(values) if higher else min(values)


def _cell(v: Optional[float], key: str) -> str:
    if v is None:
        return '-'
    if key in ('cost:train_step', 'cost:inference'):
        return f'{v:.1f}'
    return f'{v:.4f}' if not key.startswith('cost:') else f'{v:.3f}'


def format_markdown(experiments: Sequence[Experiment],
                    notes: Sequence[str] = ()) -> str:
    """Markdown table, the best value of each metric column in bold,
    followed by ``notes`` as a list."""
    cols = columns(experiments)
    best = {k: _best(experiments, k) for k, _ in cols}
    rows = []
    for e in experiments:
        cells = []
        for key, _ in cols:
            v = value(e, key)
            text = _cell(v, key)
            cells.append(f'**{text}**' if v is not None and v == best[key]
                         and len(experiments) > 1 else text)
        rows.append([e.name] + cells + [e.source])
    table = Table(['experiment'] + [h for _, h in cols] + ['metrics from'],
                  rows, notes=list(notes))
    return format_table(table, 'markdown') + '\n'


def write_csv(experiments: Sequence[Experiment], path: str) -> None:
    """One row per experiment, full precision, empty cells when missing."""
    cols = columns(experiments)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['experiment'] + [h for _, h in cols] +
                        ['metrics from', 'config', 'work_dir'])
        for e in experiments:
            values = [value(e, k) for k, _ in cols]
            writer.writerow([e.name] + ['' if v is None else v
                                        for v in values] +
                            [e.source, e.config or '', e.work_dir])


def plot(experiments: Sequence[Experiment], path: str) -> None:
    """One bar chart per column, experiments side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = columns(experiments)
    ncols = min(4, max(len(cols), 1))
    nrows = max(1, -(-len(cols) // ncols))
    width = max(3.0, 0.45 * len(experiments) + 1.2)
    fig = Figure(figsize=(ncols * width, nrows * 3.2))
    FigureCanvasAgg(fig)
    names = [e.name for e in experiments]
    colours = [f'C{i % 10}' for i in range(len(experiments))]
    for index, (key, header) in enumerate(cols):
        ax = fig.add_subplot(nrows, ncols, index + 1)
        values = [value(e, key) for e in experiments]
        ax.bar(range(len(names)), [0 if v is None else v for v in values],
               color=colours)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha='right', fontsize=7)
        if not key.startswith('cost:'):
            better = 'higher' if METRICS[key.rsplit('/', 1)[1]][1] else \
                'lower'
            header = f'{header} ({better} is better)'
        ax.set_title(header, fontsize=9)
        ax.tick_params(axis='y', labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_outputs(experiments: Sequence[Experiment], out_dir: str,
                  notes: Sequence[str] = ()) -> Dict[str, str]:
    """Write ``compare.md``, ``compare.csv`` and ``compare.png``.

    Returns:
        dict[str, str]: ``md``/``csv``/``png`` -> path.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: osp.join(out_dir, f'compare.{ext}')
             for ext in ('md', 'csv', 'png')}
    with open(paths['md'], 'w') as f:
        f.write(format_markdown(experiments, notes))
    write_csv(experiments, paths['csv'])
    plot(experiments, paths['png'])
    return paths


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, str]:
    args = parse_args(argv)
    MMLogger.get_instance('featsel_compare', log_level='INFO')
    experiments = find_experiments(args.work_dirs, args.configs or (),
                                   args.work_root,
                                   need_config=not args.no_cost)
    for e in experiments:
        e.metrics, e.source = read_eval_results(e.work_dir, args.split)
    notes = ['Dice, IoU and F-score: higher is better; MAE (of the '
             'signed distance): lower is better. Best metric values in '
             'bold.']
    if not args.no_cost:
        notes += measure_costs(experiments, settings_from_args(args),
                               args.cfg_options)
    paths = write_outputs(experiments, args.out_dir, notes)
    with open(paths['md']) as f:
        print(f.read())
    print_log(f'written: {", ".join(paths.values())}', logger='current')
    return paths


if __name__ == '__main__':
    run_cli(main)
