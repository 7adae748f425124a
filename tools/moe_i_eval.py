"""Evaluate MoE-I in every mode on a restoration split: ``python
tools/moe_i_eval.py --dense CONFIG CKPT --expert dehaze CONFIG CKPT ...
--router-dir DIR --out-dir OUT``.

Each image of ``--split`` (default ``test``) of the dense config's test
data set is restored by :class:`featsel.apis.moe_inference.MoEIRestorer`
in each run, one call per image and run, timed:

* ``dense``, ``moe_actual`` (calibrated router, abstention), ``moe_oracle``
  (best expert per image), ``top2`` (probability-weighted blend of two
  experts), ``local_router`` (with ``--local-router-dir``, ablation A);
* ``forced_misroute_<r>`` for each ``--misroute-rates`` ``r``: exactly
  ``round(r N)`` images, drawn with ``--seed``, sent to an expert other
  than their oracle expert, the others to the oracle expert
  (:func:`featsel.evaluation.routing.forced_misroute`);
* ``moe_actual_t<T>_o<O>_<blend>`` for each ``--tiling T O BLEND``
  (ablation G: overlap and blending).

Every run is scored by :class:`featsel.evaluation.metrics.RestorationMetric`
into ``OUT/<run>/per_image.jsonl`` and ``summary.json`` (seed 002 §6); each
record's ``moe`` holds the route, ``pmax``, the abstention flag, ``probs``,
``logits`` and the oracle expert, its ``cost`` the latency and its stages,
ms/MP, the routing overhead ``route_ms / (encode_ms + decode_ms)``, the
global passes run and, with ``--memory``, the peak tensor memory of a
second call (``featsel.analysis.memory``).

``OUT/moe_i_summary.json`` (and ``.md``) gathers: macro PSNR / SSIM and
median latency of every run, router accuracy against the oracle, ECE (15
bins, at the calibrated ``T`` and at ``T = 1``), abstention, the oracle gap
(macro PSNR of ``moe_oracle`` minus ``moe_actual``), the misrouting drops
(macro PSNR of ``moe_oracle`` minus ``forced_misroute_<r>``, and its
expectation over the random draw, :func:`misroute_cost`), the routing
overhead on the test images and, with ``--latency-image``, at each
``--latency-shapes`` (a crop of the image): the median router time against
the median encoder + decoder time of the same MoE-I calls, and the whole
MoE-I call against the chosen model alone
(:func:`featsel.apis.restoration.restore_tensor`), timed in turn. The
success bars of SPEC S3 are checked at the end.
"""
import argparse
import json
import os.path as osp
import sys
import time
from statistics import median
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from featsel.analysis.memory import MIB, peak_memory_bytes  # noqa: E402
from featsel.analysis.table import (Table, number, render,  # noqa: E402
                                    write_report)
from featsel.analysis.timing import synchronize  # noqa: E402
from featsel.apis.moe_inference import DENSE_NAME, MoEIRestorer  # noqa: E402
from featsel.apis.restoration import BLENDS, restore_tensor  # noqa: E402
from featsel.evaluation.calibration import (  # noqa: E402
    expected_calibration_error, negative_log_likelihood, softmax_probs)
from featsel.evaluation.metrics import RestorationMetric  # noqa: E402
from featsel.evaluation.restoration_report import SUMMARY_FILE  # noqa: E402
from featsel.evaluation.routing import forced_misroute  # noqa: E402
from featsel.evaluation.routing import group_mean  # noqa: E402
from featsel.utils import ConfigError, DataError  # noqa: E402
from featsel.utils.cli import parse_shape, run_cli  # noqa: E402
from tools.analysis_tools.utility_labels import (  # noqa: E402
    add_model_args, build_moe, iter_pairs, moe_dense_cfg,
    restoration_dataset)

SUMMARY_NAME = 'moe_i_summary'
RUN_MODES = ('dense', 'moe_actual', 'moe_oracle', 'top2', 'local_router')
#: the success bars of SPEC S3 (seed 002 §0): key -> (target, text)
BARS = {
    'actual_minus_dense_db': (0.0, 'MoE-I actual >= dense-unified on macro '
                              'PSNR (dB, >= 0)'),
    'oracle_gap_db': (0.3, 'oracle gap <= 0.3 dB'),
    'ece': (0.03, 'ECE <= 0.03'),
    'abstention': (0.10, 'abstention <= 10 %'),
    'misroute_10_drop_db': (0.2, '10 % forced misrouting costs < 0.2 dB'),
    'routing_overhead': (0.05, 'routing latency overhead <= 5 % of one '
                         'expert pass'),
}
_LOWER_IS_BETTER = ('oracle_gap_db', 'ece', 'abstention',
                    'misroute_10_drop_db', 'routing_overhead')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate MoE-I (dense, actual, oracle, top-2, forced '
        'misrouting, local router, tiling variants) with per-image records '
        'and a summary')
    add_model_args(parser)
    parser.add_argument('--router-dir', required=True,
                        help='calibrated global router (calibrate_router.py)')
    parser.add_argument('--local-router-dir',
                        help='calibrated local router (ablation A)')
    parser.add_argument('--split', default='test', help='split to evaluate '
                        '(default test)')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--modes', nargs='+', choices=RUN_MODES,
                        help='runs besides the forced misrouting and tiling '
                        'variants (default: all that the routers allow; '
                        'moe_oracle always runs)')
    parser.add_argument('--misroute-rates', nargs='*', type=float,
                        default=[0.05, 0.1, 0.2],
                        help='forced misrouting rates (default 0.05 0.1 '
                        '0.2)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the forced misrouting')
    parser.add_argument('--tiling', nargs=3, action='append', default=[],
                        metavar=('TILE', 'OVERLAP', 'BLEND'),
                        help='an extra moe_actual run with this tiling; '
                        'repeat')
    parser.add_argument('--memory', action='store_true',
                        help='peak tensor memory of each call (a second, '
                        'profiled call on a CPU)')
    parser.add_argument('--latency-image',
                        help='a large degraded image for the routing '
                        'overhead at --latency-shapes')
    parser.add_argument('--latency-shapes', type=parse_shape, nargs='+',
                        default=[(1024, 1024), (2160, 3840)],
                        help='HxW crops of --latency-image (default 1K and '
                        '4K)')
    parser.add_argument('--latency-warmup', type=int, default=1,
                        help='untimed calls of each kind per shape')
    parser.add_argument('--latency-repeats', type=int, default=3,
                        help='timed calls of each kind per shape')
    parser.add_argument('--n-resamples', type=int, default=10000,
                        help='bootstrap resamples of the intervals')
    return parser.parse_args(argv)


# ---------------------------------------------------------------------- #
# runs
# ---------------------------------------------------------------------- #
def run_names(args: argparse.Namespace,
              moe: MoEIRestorer) -> Dict[str, dict]:
    """Run name -> ``dict(mode, tiling (or None))``, in report order."""
    modes = list(args.modes or RUN_MODES)
    if 'local_router' in modes and moe.local_router is None:
        if args.modes:
            raise ConfigError('--modes local_router needs --local-router-dir')
        modes.remove('local_router')
    # the oracle runs first: it names every image's true expert
    modes = ['moe_oracle'] + [m for m in modes if m != 'moe_oracle']
    runs = {m: dict(mode=m, tiling=None) for m in modes}
    for rate in args.misroute_rates:
        if not 0 < rate <= 1:
            raise ConfigError(f'--misroute-rates must lie in (0, 1], got '
                              f'{rate}')
        runs[f'forced_misroute_{round(100 * rate):02d}'] = dict(
            mode='forced_misroute', tiling=None, rate=rate)
    for tile, overlap, blend in args.tiling:
        if blend not in BLENDS:
            raise ConfigError(f'--tiling blend must be one of {BLENDS}, got '
                              f'"{blend}"')
        tiling = dict(tile=int(tile), overlap=int(overlap), blend=blend)
        runs[f'moe_actual_t{tile}_o{overlap}_{blend}'] = dict(
            mode='moe_actual', tiling=tiling)
    return runs


def make_metric(name: str, out_dir: str, moe: MoEIRestorer, tiling: dict,
                n_resamples: int) -> RestorationMetric:
    panels = 2 if name in ('dense', 'moe_actual', 'moe_oracle') else 0
    return RestorationMetric(
        out_dir=osp.join(out_dir, name), n_resamples=n_resamples,
        num_panels=panels,
        run_info=dict(model=f'MoE-I-{name}', backbone='GlobalLocalRestorer',
                      track='MoE-I', settings=dict(tiling, tta=False),
                      moe=dict(type='MoE-I', mode=name,
                               global_source=moe.global_source,
                               own_pass=moe.own_pass)))


class Runner:
    """Calls the restorer per image and run, and feeds the metrics."""

    def __init__(self, moe: MoEIRestorer, args: argparse.Namespace) -> None:
        self.moe = moe
        self.memory = args.memory
        self.base_tiling = dict(tile=moe.tile, overlap=moe.overlap,
                                blend=moe.blend)

    def call(self, x: torch.Tensor, gt: torch.Tensor, crop: int, mode: str,
             tiling: Optional[dict], expert: Optional[str]):
        moe = self.moe
        for key, value in (tiling or self.base_tiling).items():
            setattr(moe, key, value)
        kwargs = dict(mode=mode, gt=gt, expert=expert, crop_border=crop)
        out = moe(x, **kwargs)
        peak = None
        if self.memory:
            peak = peak_memory_bytes(lambda: moe(x, **kwargs),
                                     str(moe.device)) / MIB
        for key, value in self.base_tiling.items():
            setattr(moe, key, value)
        return out, peak


def sample_of(x: torch.Tensor, gt: torch.Tensor, sample, out,
              peak: Optional[float], oracle: Tuple[int, str]) -> dict:
    """The metric's data sample of one restored image."""
    meta = sample.metainfo
    moe_record = dict(out.moe_record(), oracle=oracle[0],
                      oracle_expert=oracle[1])
    cost = out.cost_record()
    if peak is not None:
        cost['peak_mem_mib'] = peak
    return dict(pred_img=out.image[0].cpu(), gt_img=gt[0], lq_img=x[0],
                task=meta['task'], img_id=meta['img_id'],
                severity=meta.get('severity'),
                crop_border=meta.get('crop_border') or 0,
                dataset=meta.get('dataset'), moe=moe_record, cost=cost)


def evaluate(args: argparse.Namespace, moe: MoEIRestorer,
             runs: Dict[str, dict]) -> Dict[str, List[dict]]:
    """Every run on every image; returns the per-image records per run."""
    dataset = restoration_dataset(moe_dense_cfg(moe), args.split,
                                  args.data_root)
    runner = Runner(moe, args)
    metrics = {name: make_metric(name, args.out_dir, moe,
                                 run['tiling'] or runner.base_tiling,
                                 args.n_resamples)
               for name, run in runs.items()}
    oracle: Dict[str, Tuple[int, str]] = {}
    # pass 1: the oracle first (it names the true expert), then the others
    for x, gt, sample in iter_pairs(dataset):
        crop = int(sample.metainfo.get('crop_border') or 0)
        image_id = sample.metainfo['img_id']
        for name, run in runs.items():
            if run['mode'] == 'forced_misroute':
                continue
            out, peak = runner.call(x, gt, crop, run['mode'], run['tiling'],
                                    None)
            if name == 'moe_oracle':
                oracle[image_id] = (out.route_index, out.route)
            metrics[name].process(None, [sample_of(
                x, gt, sample, out, peak, oracle[image_id])])
    # pass 2: forced misrouting, drawn over the whole split
    ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    true = np.array([oracle[i][0] for i in ids])
    forced = {name: dict(zip(ids, forced_misroute(
        true, len(moe.experts), run['rate'], args.seed)))
        for name, run in runs.items() if run['mode'] == 'forced_misroute'}
    if forced:
        for x, gt, sample in iter_pairs(dataset):
            crop = int(sample.metainfo.get('crop_border') or 0)
            image_id = sample.metainfo['img_id']
            for name, routes in forced.items():
                expert = moe.experts[int(routes[image_id])]
                out, peak = runner.call(x, gt, crop, 'forced_misroute',
                                        None, expert)
                metrics[name].process(None, [sample_of(
                    x, gt, sample, out, peak, oracle[image_id])])
    records = {}
    for name, metric in metrics.items():
        records[name] = list(metric.results)
        metric.compute_metrics(metric.results)
    return records


# ---------------------------------------------------------------------- #
# latency at large sizes
# ---------------------------------------------------------------------- #
def time_call(fn, device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return 1e3 * (time.perf_counter() - start)


def latency_at(moe: MoEIRestorer, image: torch.Tensor, shape: Tuple[int, int],
               warmup: int, repeats: int) -> dict:
    """Routing overhead on a ``shape`` crop of ``image`` (module
    docstring)."""
    height, width = shape
    if image.shape[-2] < height or image.shape[-1] < width:
        raise DataError(f'--latency-image is {tuple(image.shape[-2:])}, '
                        f'smaller than {shape}')
    top = (image.shape[-2] - height) // 2
    left = (image.shape[-1] - width) // 2
    x = image[..., top:top + height, left:left + width].to(moe.device)
    device = str(moe.device)
    for _ in range(warmup):
        moe(x, 'moe_actual')
    first = moe(x, 'moe_actual')
    chosen = first.route
    task = None if chosen == DENSE_NAME else chosen
    backbone = moe.backbones[chosen]

    def alone() -> None:
        restore_tensor(backbone, x, task, moe.tile, moe.overlap, moe.blend,
                       moe.context)

    for _ in range(warmup):
        alone()
    calls, alone_ms = [first], [time_call(alone, device)]
    for _ in range(repeats - 1):
        calls.append(moe(x, 'moe_actual'))
        alone_ms.append(time_call(alone, device))
    route = median(c.timing['route_ms'] for c in calls)
    own = median(c.timing['encode_ms'] + c.timing['decode_ms']
                 for c in calls)
    total = median(c.timing['total_ms'] for c in calls)
    return dict(shape=[height, width], megapixels=height * width / 1e6,
                route=chosen, warmup=warmup, repeats=repeats,
                route_ms=route, encode_decode_ms=own, moe_total_ms=total,
                alone_ms=median(alone_ms),
                overhead=route / own,
                overhead_end_to_end=total / median(alone_ms) - 1,
                encoder_passes=calls[0].encoder_passes)


def read_image(path: str) -> torch.Tensor:
    image = mmcv.imread(path, channel_order='rgb')
    if image is None:
        raise DataError(f'cannot read --latency-image "{path}"')
    return torch.from_numpy(image.transpose(2, 0, 1).copy())[None].float() \
        / 255


# ---------------------------------------------------------------------- #
# summary
# ---------------------------------------------------------------------- #
def run_summary(name: str, out_dir: str, records: List[dict]) -> dict:
    with open(osp.join(out_dir, name, SUMMARY_FILE)) as f:
        summary = json.load(f)
    costs = [r['cost'] for r in records]
    moe = [r['moe'] for r in records]
    entry = dict(
        macro=summary['macro'], macro_ci=summary['macro_ci'],
        per_task={t: dict(n=v['n'], psnr=v['psnr'], ssim=v['ssim'])
                  for t, v in summary['per_task'].items()},
        latency_ms=median(c['latency_ms'] for c in costs),
        ms_per_mp=median(c['ms_per_mp'] for c in costs),
        encoder_passes=float(np.mean([c['encoder_passes'] for c in costs])),
        abstention=float(np.mean([m['abstained'] for m in moe])))
    if all('peak_mem_mib' in c for c in costs):
        entry['peak_mem_mib'] = max(c['peak_mem_mib'] for c in costs)
    return entry


def router_summary(records: List[dict], moe: MoEIRestorer,
                   key: str) -> dict:
    """Router accuracy, ECE and NLL on the split (from the oracle run's
    records, which carry ``p`` and the oracle expert)."""
    router = moe.router if key == 'router' else moe.local_router
    logits = np.array([r['moe']['logits'] for r in records])
    oracle = np.array([r['moe']['oracle'] for r in records])
    probs = softmax_probs(logits, router.temperature)
    return dict(
        accuracy=float((probs.argmax(1) == oracle).mean()),
        ece=expected_calibration_error(probs, oracle),
        ece_t1=expected_calibration_error(softmax_probs(logits), oracle),
        nll=negative_log_likelihood(logits, oracle, router.temperature),
        temperature=router.temperature, tau=router.tau,
        oracle_share={e: float((oracle == k).mean())
                      for k, e in enumerate(moe.experts)})


def macro_psnr(records: List[dict]) -> float:
    return group_mean([r['metrics']['psnr'] for r in records],
                      [r['task'] for r in records])


def misroute_cost(oracle_records: List[dict]) -> Dict[str, float]:
    """What sending an image to a wrong expert costs, ``PSNR_{k*} -
    mean_{k != k*} PSNR_k`` (dB): the mean per task and their ``'macro'``
    mean. With ``m`` of ``N`` images misrouted at random, each image is
    misrouted with probability ``m / N``, so the expected macro drop is
    ``m / N`` times the macro cost."""
    gaps, tasks = [], []
    for r in oracle_records:
        values = np.array(list(r['moe']['expert_psnr'].values()))
        best = int(values.argmax())
        gaps.append(values[best] - np.delete(values, best).mean())
        tasks.append(r['task'])
    cost = {task: group_mean([g for g, t in zip(gaps, tasks) if t == task])
            for task in dict.fromkeys(tasks)}
    cost['macro'] = group_mean(gaps, tasks)
    return cost


def summarise(args: argparse.Namespace, moe: MoEIRestorer,
              runs: Dict[str, dict], records: Dict[str, List[dict]],
              latency: List[dict]) -> dict:
    oracle_psnr = macro_psnr(records['moe_oracle'])
    summary = dict(
        split=args.split, n=len(records['moe_oracle']),
        experts=list(moe.experts), global_source=moe.global_source,
        own_pass=moe.own_pass,
        tiling=dict(tile=moe.tile, overlap=moe.overlap, blend=moe.blend,
                    context=moe.context),
        runs={name: dict(run_summary(name, args.out_dir, records[name]),
                         mode=run['mode'])
              for name, run in runs.items()},
        router=router_summary(records['moe_oracle'], moe, 'router'))
    if moe.local_router is not None and 'moe_oracle' in records:
        summary['local_router'] = router_summary(records['moe_oracle'],
                                                 moe, 'local_router')
    misroute = {}
    cost = misroute_cost(records['moe_oracle'])
    summary['misroute_cost_db'] = cost
    for name, run in runs.items():
        if run['mode'] != 'forced_misroute':
            continue
        rows = records[name]
        wrong = sum(r['moe']['route_index'] != r['moe']['oracle']
                    for r in rows)
        misroute[name] = dict(rate=run['rate'], misrouted=int(wrong),
                              psnr=macro_psnr(rows),
                              drop_db=oracle_psnr - macro_psnr(rows),
                              expected_drop_db=(wrong / len(rows)
                                                * cost['macro']))
    summary['misroute'] = misroute
    bars = {}
    if 'moe_actual' in records:
        actual = records['moe_actual']
        bars['oracle_gap_db'] = oracle_psnr - macro_psnr(actual)
        bars['abstention'] = float(np.mean([r['moe']['abstained']
                                            for r in actual]))
        bars['routing_overhead'] = median(r['cost']['routing_overhead']
                                          for r in actual)
        if 'dense' in records:
            bars['actual_minus_dense_db'] = (macro_psnr(actual)
                                             - macro_psnr(records['dense']))
    bars['ece'] = summary['router']['ece']
    ten = [m for m in misroute.values() if abs(m['rate'] - 0.1) < 1e-9]
    if ten:
        bars['misroute_10_drop_db'] = ten[0]['drop_db']
    if latency:
        summary['latency'] = latency
        bars['routing_overhead'] = max(
            [bars.get('routing_overhead', 0.0)]
            + [row['overhead'] for row in latency])
    summary['bars'] = {
        key: dict(value=value, target=BARS[key][0], text=BARS[key][1],
                  met=bool(value <= BARS[key][0] if key in _LOWER_IS_BETTER
                           else value >= BARS[key][0]))
        for key, value in bars.items()}
    return summary


def tables(summary: dict) -> List[Table]:
    runs = Table(
        ['run', 'mode', 'macro PSNR', 'macro SSIM', 'abstention',
         'median latency (ms)', 'ms/MP', 'global passes'],
        [[name, r['mode'], f"{r['macro']['psnr']:.3f}",
          f"{r['macro']['ssim']:.4f}", number(r['abstention']),
          number(r['latency_ms']), number(r['ms_per_mp']),
          number(r['encoder_passes'])]
         for name, r in summary['runs'].items()],
        title=f"MoE-I runs on the {summary['split']} split "
        f"({summary['n']} images)")
    router = summary['router']
    info = Table(
        ['router', 'accuracy vs oracle', 'ECE (T)', 'ECE (T = 1)', 'NLL',
         'T', 'tau'],
        [[key, number(r['accuracy']), number(r['ece']),
          number(r['ece_t1']), number(r['nll']), number(r['temperature']),
          number(r['tau'])]
         for key, r in (('global', router),
                        ('local', summary.get('local_router')))
         if r is not None],
        title='Routers on the evaluated split')
    bars = Table(
        ['bar', 'value', 'met'],
        [[b['text'], number(b['value'], 4), 'yes' if b['met'] else 'NO']
         for b in summary['bars'].values()],
        title='Success bars (SPEC S3)')
    out = [runs, info, bars]
    if summary.get('latency'):
        out.append(Table(
            ['shape', 'route', 'router (ms)', 'encoder + decoder (ms)',
             'overhead', 'MoE-I call (ms)', 'chosen model alone (ms)',
             'end-to-end overhead'],
            [[f"{r['shape'][0]}x{r['shape'][1]}", r['route'],
              number(r['route_ms']), number(r['encode_decode_ms']),
              f"{100 * r['overhead']:.4f} %", number(r['moe_total_ms']),
              number(r['alone_ms']),
              f"{100 * r['overhead_end_to_end']:+.1f} %"]
             for r in summary['latency']],
            title='Routing overhead at large sizes',
            notes=['medians of the timed calls; overhead = router time / '
                   'encoder + decoder time of the same calls; end-to-end: '
                   'MoE-I call / chosen model alone - 1 (timed in turn, '
                   'noisy at few repeats)']))
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    moe = build_moe(args, args.router_dir, args.local_router_dir)
    runs = run_names(args, moe)
    records = evaluate(args, moe, runs)
    latency = []
    if args.latency_image:
        image = read_image(args.latency_image)
        latency = [latency_at(moe, image, s,
                              args.latency_warmup, args.latency_repeats)
                   for s in args.latency_shapes]
    summary = summarise(args, moe, runs, records, latency)
    out = tables(summary)
    write_report(summary, out, osp.join(args.out_dir, f'{SUMMARY_NAME}.json'),
                 osp.join(args.out_dir, f'{SUMMARY_NAME}.md'))
    print(render(out, 'markdown'))


if __name__ == '__main__':
    run_cli(main)
