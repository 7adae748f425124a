"""Per-task experts against the dense-unified model:
``python tools/analysis_tools/restoration_experts_table.py --dense RUN
--expert dehaze=RUN --expert derain=RUN --expert desnow=RUN``.

Each ``RUN`` is the ``per_image.jsonl`` that ``RestorationMetric`` wrote
for a test run (or a folder holding one: the newest below it). The dense
run scores every task; each expert's run is reduced to its own task. Per
metric (PSNR, SSIM) one table: per task and over tasks ("macro", the
unweighted mean of the task means) the degraded input, the dense-unified
model and the matching expert, with bootstrap 95 % intervals, the gain
expert - dense with its interval, the paired t-test and Cohen's ``d_z``
(:func:`featsel.evaluation.restoration_report.compare_runs`).

With ``--config TASK=CONFIG`` for the experts a third table gives their
parameters: the backbone's, the task's adapters (and their share of the
backbone), and the backbone groups the expert fine-tunes
(``ProgressiveUnfreezeHook`` of the config: the top groups from the start,
the unfrozen ones later), i.e. what one more expert costs in parameters.

Printed as Markdown and written to ``--out-dir`` as
``restoration_experts.md`` and ``restoration_experts.json``.
"""
import argparse
import glob
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from featsel.analysis.table import Table, number, render  # noqa: E402
from featsel.analysis.table import write_report  # noqa: E402
from featsel.evaluation.restoration_report import (  # noqa: E402
    PER_IMAGE_FILE, compare_runs, read_per_image)
from featsel.utils import ConfigError, DataError  # noqa: E402
from featsel.utils.cli import (add_bootstrap_args, bootstrap_kwargs,  # noqa: E402
                                run_cli)
from tools.analysis_tools.restoration_compare import \
    comparison_table  # noqa: E402

METRICS = ('psnr', 'ssim')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Experts against the dense-unified model, per task and '
        'macro, with bootstrap CIs, paired t-tests and Cohen\'s d_z')
    parser.add_argument('--dense', required=True, help='per_image.jsonl of '
                        'the dense-unified test run (or a folder holding it)')
    parser.add_argument('--expert', action='append', required=True,
                        metavar='TASK=RUN', help='per_image.jsonl of the '
                        'expert of TASK (or a folder); repeat per task')
    parser.add_argument('--config', action='append', default=[],
                        metavar='TASK=CONFIG', help='config of the expert of '
                        'TASK, for the parameter table; repeat per task')
    parser.add_argument('--out-dir', help='write restoration_experts.md and '
                        '.json here')
    add_bootstrap_args(parser)
    return parser.parse_args(argv)


def task_pairs(items: Sequence[str], option: str) -> Dict[str, str]:
    """``['dehaze=a', ...]`` -> ``{'dehaze': 'a', ...}``."""
    pairs = {}
    for item in items:
        task, sep, value = item.partition('=')
        if not sep or not task or not value:
            raise ConfigError(f'{option} "{item}" must be TASK=PATH, e.g. '
                              f'{option} dehaze=work_dirs/expert_dehaze')
        if task in pairs:
            raise ConfigError(f'{option} names task "{task}" twice')
        pairs[task] = value
    return pairs


def find_records(path: str) -> str:
    """``path`` itself (a file), its ``per_image.jsonl``, or the newest
    ``per_image.jsonl`` below it."""
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'"{path}" does not exist')
    direct = osp.join(path, PER_IMAGE_FILE)
    if osp.isfile(direct):
        return direct
    found = glob.glob(osp.join(path, '**', PER_IMAGE_FILE), recursive=True)
    if not found:
        raise DataError(f'no {PER_IMAGE_FILE} below "{path}": test the '
                        'model first (tools/test.py)')
    return max(found, key=osp.getmtime)


def paired_records(dense: List[dict], experts: Dict[str, List[dict]]
                   ) -> Tuple[List[dict], List[dict]]:
    """The dense records of the experts' tasks, and each expert's records
    of its own task, for :func:`compare_runs`."""
    chosen = []
    for task, records in experts.items():
        own = [r for r in records if r['task'] == task]
        if not own:
            raise DataError(f'the run of the "{task}" expert scored no '
                            f'"{task}" image (tasks: '
                            f'{sorted({r["task"] for r in records})})')
        chosen += own
    ids = {r['id'] for r in chosen}
    return [r for r in dense if r['id'] in ids], chosen


def _group_size(model, prefixes: List[str]) -> int:
    """Parameters whose names start with one of ``prefixes``."""
    return sum(p.numel() for n, p in model.named_parameters()
               if any(n.startswith(x + '.') for x in prefixes))


def parameter_rows(configs: Dict[str, str]) -> List[list]:
    """One row per expert config: backbone, adapters, fine-tuned groups."""
    from featsel.apis import init_model
    from featsel.engine.hooks import ProgressiveUnfreezeHook

    rows = []
    for task, config in configs.items():
        model = init_model(config)
        counts = model.parameter_counts()
        base, adapters = counts['backbone'], counts.get(task, 0)
        hooks = [h for h in model.cfg.get('custom_hooks', [])
                 if str(h.get('type', '')).endswith('ProgressiveUnfreezeHook')]
        top = late = 0
        if hooks:
            hook = ProgressiveUnfreezeHook(**{
                k: v for k, v in hooks[0].items()
                if k not in ('type', 'priority')})
            roles = hook.split(model)
            top, late = (_group_size(model, roles[k])
                         for k in ('top', 'unfrozen'))
        own = adapters + top + late
        rows.append([task, base, adapters, f'{100 * adapters / base:.2f} %',
                     top, late, f'{100 * own / base:.2f} %'])
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    experts = task_pairs(args.expert, '--expert')
    configs = task_pairs(args.config, '--config')
    paths = dict(dense=find_records(args.dense),
                 **{t: find_records(p) for t, p in experts.items()})
    dense, chosen = paired_records(
        read_per_image(paths['dense']),
        {t: read_per_image(paths[t]) for t in experts})
    boot = bootstrap_kwargs(args)
    results = {metric: compare_runs(dense, chosen, metric=metric, **boot)
               for metric in METRICS}
    names = ('dense-unified', 'expert')
    tables = [comparison_table(metric, result, names, args.confidence)
              for metric, result in results.items()]
    report = dict(runs=paths, statistics=boot, results=results)
    if configs:
        rows = parameter_rows(configs)
        tables.append(Table(
            ['expert', 'backbone', 'adapters', 'adapters / backbone',
             '+ top groups', '+ unfrozen groups', 'expert-own / backbone'],
            [[r[0]] + [number(v) for v in r[1:]] for r in rows],
            title='Parameters', notes=[
                'adapters: the task\'s adapters; top groups: backbone '
                'groups the expert trains from the start, unfrozen groups: '
                'from unfreeze_iter (ProgressiveUnfreezeHook); '
                'expert-own = adapters + both, the parameters one more '
                'expert adds when it keeps its own copy of those groups']))
        report['parameters'] = rows
    print(render(tables, 'markdown'), end='')
    if args.out_dir:
        write_report(report, tables,
                     osp.join(args.out_dir, 'restoration_experts.json'),
                     osp.join(args.out_dir, 'restoration_experts.md'))


if __name__ == '__main__':
    run_cli(main)
