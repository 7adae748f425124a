"""The MoE-I report: ``python tools/analysis_tools/moe_i_report.py EVAL_DIR
--out-dir REPORT``.

``EVAL_DIR`` is the output of ``tools/moe_i_eval.py`` (one folder per run
with ``per_image.jsonl``, and ``moe_i_summary.json``). Written to
``--out-dir`` (``moe_i_report.md`` and ``.json``, five PNGs):

* **Main table** per metric (PSNR, SSIM): per task and macro, the degraded
  input, dense-unified, MoE-I actual and the oracle with percentile
  bootstrap intervals (95 % by default); actual - dense and oracle - dense
  with their intervals, paired t-tests and Cohen's ``d_z``
  (:func:`featsel.evaluation.restoration_report.compare_runs`).
* **Router** on the evaluated split: accuracy against the oracle expert,
  ECE, abstention, oracle gap; the **ablations** (A: local vs global
  router, D: top-1 vs top-2, G: tiling, H: forced misrouting) and the
  **success bars** with the margin of each.
* Pictures (:mod:`featsel.visualization.moe_i_plots`): ``reliability.png``
  (before and after temperature scaling), ``coverage_accuracy.png`` (over
  ``tau``, the chosen ``tau`` marked), ``misrouting.png`` (macro PSNR drop
  against the forced rate), ``severity_gains.png`` (MoE-I actual minus
  dense per severity third and task) and ``pareto.png`` (macro PSNR
  against median ms per megapixel).

All numbers come from the per-image records of the evaluated split.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402

from featsel.analysis.table import (Table, number, render,  # noqa: E402
                                    write_report)
from featsel.evaluation.calibration import (calibration_bins,  # noqa: E402
                                            coverage_curve, softmax_probs)
from featsel.evaluation.restoration_report import (  # noqa: E402
    PER_IMAGE_FILE, compare_runs, format_mean_ci, read_per_image)
from featsel.evaluation.routing import binned_means, pareto_front  # noqa
from featsel.utils import DataError  # noqa: E402
from featsel.utils.cli import (add_bootstrap_args, bootstrap_kwargs,  # noqa: E402
                                run_cli)
from featsel.visualization.moe_i_plots import (  # noqa: E402
    coverage_accuracy_figure, misrouting_figure, pareto_figure,
    reliability_figure, save_figure, severity_gains_figure)

SUMMARY_FILE = 'moe_i_summary.json'
REPORT_NAME = 'moe_i_report'
SEVERITY_EDGES = (0., 1 / 3, 2 / 3, 1.)
SEVERITY_LABELS = ('low', 'mid', 'high')
_DIGITS = dict(psnr=2, ssim=4)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Tables and pictures of a MoE-I evaluation')
    parser.add_argument('eval_dir', help='output folder of '
                        'tools/moe_i_eval.py')
    parser.add_argument('--out-dir', required=True, help='report folder')
    add_bootstrap_args(parser)
    return parser.parse_args(argv)


def main_table(metric: str, vs_actual: dict, vs_oracle: dict,
               confidence: float = 0.95) -> Table:
    """Dense vs MoE-I actual vs oracle, per task and macro."""
    d = _DIGITS[metric]
    rows = []
    for task, row in vs_actual.items():
        oracle = vs_oracle[task]
        rows.append([task, row['n'], format_mean_ci(row['input'], d),
                     format_mean_ci(row['a'], d),
                     format_mean_ci(row['b'], d),
                     format_mean_ci(oracle['b'], d),
                     format_mean_ci(row['diff'], d),
                     number(row['t'], 3), number(row['p'], 2),
                     number(row['d_z'], 3), format_mean_ci(oracle['diff'], d),
                     number(oracle['p'], 2), number(oracle['d_z'], 3)])
    return Table(
        ['task', 'n', 'input', 'dense', 'MoE-I actual', 'MoE-I oracle',
         'actual - dense', 't', 'p', 'd_z', 'oracle - dense', 'p (oracle)',
         'd_z (oracle)'], rows, title=f'{metric.upper()}: dense-unified vs '
        'MoE-I', notes=[
            f'mean [{confidence:.0%} percentile bootstrap CI]; macro: mean '
            'of the task means, CI stratified by task',
            'paired two-sided t-test and d_z = mean(d) / sd(d) of the '
            'per-image differences against dense (macro: all images '
            'pooled)'])


def load_runs(eval_dir: str, names: Sequence[str]) -> Dict[str, List[dict]]:
    return {name: read_per_image(osp.join(eval_dir, name, PER_IMAGE_FILE))
            for name in names}


# ---------------------------------------------------------------------- #
# pictures
# ---------------------------------------------------------------------- #
def calibration_pictures(records: List[dict], router: dict,
                         out_dir: str) -> dict:
    """Reliability diagram and coverage-accuracy curve on the split."""
    logits = np.array([r['moe']['logits'] for r in records])
    oracle = np.array([r['moe']['oracle'] for r in records])
    t = router['temperature']
    probs = softmax_probs(logits, t)
    bins = {'T = 1': calibration_bins(softmax_probs(logits), oracle),
            f'T = {t:.3g}': calibration_bins(probs, oracle)}
    save_figure(reliability_figure(
        {k: v._asdict() for k, v in bins.items()},
        title='Router reliability (evaluated split)'),
        osp.join(out_dir, 'reliability.png'))
    curve = coverage_curve(probs, oracle)
    conf = probs.max(1)
    kept = conf >= router['tau']
    chosen = (float(1 - kept.mean()),
              float((probs.argmax(1) == oracle)[kept].mean())
              if kept.any() else 0.)
    save_figure(coverage_accuracy_figure(curve.abstention,
                                         curve.kept_accuracy, chosen, 0.1),
                osp.join(out_dir, 'coverage_accuracy.png'))
    return dict(reliability={k: {f: np.asarray(v).tolist()
                                 for f, v in b._asdict().items()}
                             for k, b in bins.items()},
                coverage=dict(tau=curve.tau.tolist(),
                              abstention=curve.abstention.tolist(),
                              kept_accuracy=curve.kept_accuracy.tolist(),
                              chosen=chosen))


def severity_gains(actual: List[dict], dense: List[dict]) -> dict:
    """Per task: MoE-I actual minus dense PSNR per severity third."""
    base = {r['id']: r['metrics']['psnr'] for r in dense}
    gains, errors, counts = {}, {}, {}
    for task in sorted({r['task'] for r in actual}):
        rows = [r for r in actual
                if r['task'] == task and r.get('severity') is not None]
        if not rows:
            continue
        binned = binned_means(
            [r['metrics']['psnr'] - base[r['id']] for r in rows],
            [r['severity'] for r in rows], SEVERITY_EDGES)
        gains[task] = binned.mean.tolist()
        errors[task] = np.nan_to_num(binned.sem).tolist()
        counts[task] = binned.count.tolist()
    return dict(bins=list(SEVERITY_LABELS), edges=list(SEVERITY_EDGES),
                gains=gains, sem=errors, count=counts)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    path = osp.join(args.eval_dir, SUMMARY_FILE)
    if not osp.isfile(path):
        raise DataError(f'{path} does not exist: run tools/moe_i_eval.py '
                        'first')
    with open(path) as f:
        summary = json.load(f)
    runs = summary['runs']
    for name in ('dense', 'moe_actual', 'moe_oracle'):
        if name not in runs:
            raise DataError(f'{path} has no "{name}" run')
    records = load_runs(args.eval_dir, list(runs))
    boot = bootstrap_kwargs(args)
    results = {m: dict(actual=compare_runs(records['dense'],
                                           records['moe_actual'], m, **boot),
                       oracle=compare_runs(records['dense'],
                                           records['moe_oracle'], m, **boot))
               for m in ('psnr', 'ssim')}
    tables = [main_table(m, r['actual'], r['oracle'], args.confidence)
              for m, r in results.items()]

    # ablations
    rows = [[name, run['mode'], f"{run['macro']['psnr']:.3f}",
             f"{run['macro']['psnr'] - runs['dense']['macro']['psnr']:+.3f}",
             number(run['abstention']), number(run['ms_per_mp'])]
            for name, run in runs.items()]
    tables.append(Table(
        ['run', 'mode', 'macro PSNR', 'vs dense (dB)', 'abstention',
         'ms/MP (median)'], rows, title='Every run (ablations A, D, G, H)'))
    routers = [('global (cached bottleneck vector)', summary['router'])]
    if summary.get('local_router'):
        routers.append(('local (image statistics)', summary['local_router']))
    tables.append(Table(
        ['router', 'accuracy vs oracle', 'ECE', 'ECE at T = 1', 'NLL', 'T',
         'tau'],
        [[name, number(r['accuracy']), number(r['ece']),
          number(r['ece_t1']), number(r['nll']), number(r['temperature']),
          number(r['tau'])] for name, r in routers],
        title='Routers on the evaluated split (ablation A)',
        notes=[f"oracle experts: {summary['router']['oracle_share']}"]))
    tables.append(Table(
        ['bar', 'value', 'met', 'margin'],
        [[b['text'], number(b['value'], 4), 'yes' if b['met'] else 'NO',
          f"{b['value'] - b['target']:+.4g}"]
         for b in summary['bars'].values()],
        title='Success bars (SPEC S3)',
        notes=['margin = value - target (a missed bar: by how much)']))

    # pictures
    figures = calibration_pictures(records['moe_oracle'], summary['router'],
                                   args.out_dir)
    rates = [0.] + [m['rate'] for m in summary['misroute'].values()]
    drops = {'measured (one draw)': [0.] + [
        m['drop_db'] for m in summary['misroute'].values()],
             'expected over draws': [0.] + [
        m['expected_drop_db'] for m in summary['misroute'].values()]}
    if len(rates) > 1:
        save_figure(misrouting_figure(np.array(rates), drops, bar=0.2),
                    osp.join(args.out_dir, 'misrouting.png'))
    figures['misrouting'] = dict(rates=rates, drops=drops)
    gains = severity_gains(records['moe_actual'], records['dense'])
    if gains['gains']:
        save_figure(severity_gains_figure(gains['bins'], gains['gains'],
                                          gains['sem']),
                    osp.join(args.out_dir, 'severity_gains.png'))
    figures['severity_gains'] = gains
    systems = {n: (r['ms_per_mp'], r['macro']['psnr'])
               for n, r in runs.items() if r['mode'] != 'forced_misroute'}
    names = list(systems)
    front = [names[i] for i in pareto_front([systems[n][0] for n in names],
                                            [systems[n][1] for n in names])]
    save_figure(pareto_figure(systems, front,
                              cost_label='median latency (ms/MP)'),
                osp.join(args.out_dir, 'pareto.png'))
    figures['pareto'] = dict(points=systems, front=front)

    report = dict(eval_dir=args.eval_dir, split=summary['split'],
                  n=summary['n'], statistics=boot, comparisons=results,
                  router=summary['router'],
                  local_router=summary.get('local_router'),
                  bars=summary['bars'], latency=summary.get('latency'),
                  figures=figures)
    pictures = [f'![{name}]({name}.png)' for name in (
        'reliability', 'coverage_accuracy', 'misrouting', 'severity_gains',
        'pareto') if osp.isfile(osp.join(args.out_dir, f'{name}.png'))]
    write_report(report, tables,
                 osp.join(args.out_dir, f'{REPORT_NAME}.json'))
    text = render(tables, 'markdown') + '\n' + '\n\n'.join(pictures) + '\n'
    with open(osp.join(args.out_dir, f'{REPORT_NAME}.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    run_cli(main)
