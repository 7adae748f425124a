"""What the sparsity mechanisms of DSET cost and save, measured:
``python tools/analysis_tools/dset_costs.py CONFIG [CONFIG ...]``.

The first config is the baseline every ratio refers to (e.g.
``configs/dset/rtdetr_r18.py``). In one run, on the same random inputs, on
``--device`` (cpu or cuda):

1. **Whole models** at each ``--shapes`` input (640x640 and 1280x720 by
   default; 720 is padded to 736 as the data preprocessor does): params,
   GFLOPs per part (backbone, encoder transformer incl. pruner, cross-scale
   fusion (CCFM), decoder, query selection + head, and the MoE layers inside
   them); inference latency (median of ``--repeats`` after ``--warmup``
   batches, models timed in turn) as trained and with the RepVGG blocks
   fused into single convs (deployment form); and the latency of each part.
2. **MoE layers** of the configs at several token counts: sparse dispatch
   against (k/E x running every expert densely on every token) -- the
   target is <= 1.5 -- and against the dense FFN the layer replaces.
3. **Pruned encoder transformer**: time of the pruned top-level encoder
   (pruner + transformer on the kept tokens + restore) over the same module
   run on every token, next to the keep ratio.

FLOPs, latency and the tables come from ``featsel.analysis``; the FLOP
convention (2 per multiply-add) is printed under every table. Models keep
random weights: routing and pruning decisions then differ from a trained
model's, their cost does not. The report is printed and written as JSON and
Markdown.
"""
import argparse
import copy
from functools import partial
import os.path as osp
import sys
from statistics import median
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from featsel.analysis.compare import add_device_args  # noqa: E402
from featsel.analysis.flops import (FLOPS_CONVENTION,  # noqa: E402
                                    inference_flops)
from featsel.analysis.inputs import synthetic_batch  # noqa: E402
from featsel.analysis.models import (ModelSpec, build_model,  # noqa: E402
                                     count_params, deployed)
from featsel.analysis.parts import (RTDETR_PARTS, breakdown,  # noqa: E402
                                    moe_layers)
from featsel.analysis.table import Table, render, write_report  # noqa: E402
from featsel.analysis.timing import (check_device, num_threads,  # noqa: E402
                                     predict_step_fn, time_alternately,
                                     time_modules)
from featsel.utils.cli import parse_shape, run_cli  # noqa: E402

DEFAULT_OUT = osp.join('work_dirs', 'dset_costs')
Shape = Tuple[int, int]


# ---------------------------------------------------------------------- #
# Whole models
# ---------------------------------------------------------------------- #
#: the parts whose latency is reported (the MoE layers run inside them)
LATENCY_PARTS = RTDETR_PARTS[:5] + ('total', )


def measure_models(models: Dict[str, nn.Module], shapes: Sequence[Shape],
                   warmup: int, repeats: int, device: str) -> dict:
    """Params, GFLOPs per part, latency (as trained and in deployment form)
    and latency per part of every model at every shape."""
    report = {name: dict(params_m=count_params(m) / 1e6, shapes={})
              for name, m in models.items()}
    deploy = {}
    for name, model in models.items():
        deploy[name], report[name]['fused_blocks'] = deployed(model)
    for shape in shapes:
        key = f'{shape[0]}x{shape[1]}'
        print_log(f'FLOPs and latency at {key} ...', logger='current')
        steps: Dict[str, Callable[[], None]] = {}
        for name, model in models.items():
            batch = synthetic_batch(model, 1, shape)
            parts = breakdown(model)
            flops = inference_flops(model, batch, parts.modules)
            at = report[name]['shapes'][key] = dict(
                gflops={p: v / 1e9
                        for p, v in parts.combine(flops.by_module).items()},
                unknown_ops=flops.unknown)
            model.eval()
            step = predict_step_fn(model, batch)
            seconds = parts.combine(time_modules(
                model, step, parts.modules, warmup, repeats, device))
            at['part_latency_ms'] = {p: 1e3 * seconds[p]
                                     for p in LATENCY_PARTS}
            steps[name] = step
            steps[f'{name} (fused)'] = predict_step_fn(deploy[name], batch)
        times = time_alternately(steps, warmup, repeats, device)
        for name in models:
            at = report[name]['shapes'][key]
            at['latency_ms'] = 1e3 * median(times[name])
            at['fused_latency_ms'] = 1e3 * median(times[f'{name} (fused)'])
            at['latency_ms_all'] = [1e3 * t for t in times[name]]
    return report


# ---------------------------------------------------------------------- #
# MoE layers
# ---------------------------------------------------------------------- #
def run_all_experts(moe: nn.Module, tokens: Tensor) -> Tensor:
    """Every expert on every token, weighted equally: the dense reference
    whose cost ``k/E`` of is the ideal of sparse dispatch."""
    out = torch.zeros_like(tokens)
    for expert in moe.experts:
        out = out + expert(tokens)
    return out


def dense_ffn_like(moe: nn.Module, hidden: int) -> nn.Module:
    """The dense FFN (``d -> hidden -> d``, same activation) that an MoE
    layer replaces."""
    d = moe.embed_dims
    return nn.Sequential(
        nn.Linear(d, hidden), copy.deepcopy(moe.experts[0].act),
        nn.Linear(hidden, d)).eval()


def measure_moe(models: Dict[str, nn.Module], token_counts: Sequence[int],
                dense_hidden: int, warmup: int, repeats: int,
                device: str) -> List[dict]:
    """Sparse dispatch against dense references, per distinct MoE layer."""
    rows, seen = [], set()
    for name, model in models.items():
        for where, prefix in (('encoder', 'neck.'), ('decoder', 'decoder.')):
            layers = [m for n, m in moe_layers(model).items()
                      if n.startswith(prefix)]
            if not layers:
                continue
            moe = layers[0].eval()
            hidden = moe.experts[0].fc1.out_features
            key = (moe.num_experts, moe.top_k, hidden, where)
            if key in seen:
                continue
            seen.add(key)
            dense = dense_ffn_like(moe, dense_hidden).to(device)
            for n in token_counts:
                tokens = torch.randn(n, moe.embed_dims,
                                     generator=torch.Generator().manual_seed(
                                         n)).to(device)
                steps = {
                    'moe': partial(moe, tokens),
                    'all experts': partial(run_all_experts, moe, tokens),
                    'dense FFN': partial(dense, tokens),
                }
                with torch.no_grad():
                    times = time_alternately(steps, warmup, repeats, device)
                t = {k: 1e3 * median(v) for k, v in times.items()}
                ideal = moe.top_k / moe.num_experts * t['all experts']
                rows.append(dict(
                    config=name, layer=where,
                    experts=moe.num_experts, top_k=moe.top_k,
                    expert_hidden=hidden, tokens=n, moe_ms=t['moe'],
                    all_experts_ms=t['all experts'],
                    dense_ffn_ms=t['dense FFN'],
                    moe_over_ideal=t['moe'] / ideal,
                    moe_over_dense=t['moe'] / t['dense FFN'],
                    flops_over_dense=moe.top_k * hidden / dense_hidden))
    sys.stdout.write('\n')
    return rows


# ---------------------------------------------------------------------- #
# Pruned encoder transformer
# ---------------------------------------------------------------------- #
def encode_top_level(neck: nn.Module, feat: Tensor,
                     pruner: Optional[nn.Module]) -> None:
    """The neck's first transformer level with ``pruner`` (or none)."""
    neck.pruner = pruner
    neck.encode_level(feat, neck.encoders[0])


def measure_pruning(models: Dict[str, nn.Module], shapes: Sequence[Shape],
                    batch_sizes: Sequence[int], warmup: int,
                    repeats: int, device: str) -> List[dict]:
    """Pruned top-level encoder time over the unpruned one, same weights."""
    rows = []
    for name, model in models.items():
        neck = model.neck
        pruner = getattr(neck, 'pruner', None)
        if pruner is None:
            continue
        level = neck.encoder_levels[0]
        stride = 2**(level + 3)
        for shape in shapes:
            h, w = (-(-shape[0] // 32) * 32 // stride,
                    -(-shape[1] // 32) * 32 // stride)
            for batch in batch_sizes:
                feat = torch.randn(
                    batch, neck.embed_dims, h, w,
                    generator=torch.Generator().manual_seed(0)).to(device)
                steps = dict(
                    pruned=partial(encode_top_level, neck, feat, pruner),
                    unpruned=partial(encode_top_level, neck, feat, None))
                with torch.no_grad():
                    times = time_alternately(steps, warmup, repeats, device)
                neck.pruner = pruner
                t = {k: 1e3 * median(v) for k, v in times.items()}
                rows.append(dict(
                    config=name, input=f'{shape[0]}x{shape[1]}',
                    batch=batch, tokens=h * w,
                    kept=pruner.num_kept(h * w),
                    keep_ratio=pruner.current_keep_ratio,
                    pruned_ms=t['pruned'], unpruned_ms=t['unpruned'],
                    time_ratio=t['pruned'] / t['unpruned']))
    sys.stdout.write('\n')
    return rows


# ---------------------------------------------------------------------- #
# Report
# ---------------------------------------------------------------------- #
def _f(x: float, digits: int = 2) -> str:
    return f'{x:.{digits}f}'


def report_tables(report: dict) -> List[Table]:
    """Per shape: GFLOPs per part, then latency per part and as deployed;
    then the MoE layers and the pruned encoder."""
    models = report['models']
    base = next(iter(models))
    tables = []
    for shape in report['shapes']:
        b = models[base]['shapes'][shape]
        flops_rows, time_rows = [], []
        for name, m in models.items():
            s = m['shapes'][shape]
            flops_rows.append([name, _f(m['params_m'])] + [
                _f(s['gflops'].get(p, 0.0)) for p in RTDETR_PARTS
            ] + [_f(s['gflops']['total'] / b['gflops']['total'], 3)])
            time_rows.append([name] + [
                _f(s['part_latency_ms'][p], 1) for p in LATENCY_PARTS
            ] + [
                _f(s['latency_ms'], 1),
                _f(s['latency_ms'] / b['latency_ms'], 3),
                _f(s['fused_latency_ms'], 1),
                _f(s['fused_latency_ms'] / s['latency_ms'], 3),
            ])
        unknown = [(name, sorted(m['shapes'][shape]['unknown_ops']))
                   for name, m in models.items()]
        tables.append(Table(
            ['model', 'params (M)'] + list(RTDETR_PARTS) + ['GFLOPs / base'],
            flops_rows, title=f'Whole models at {shape} (GFLOPs per part)',
            notes=[FLOPS_CONVENTION] + [
                f'not in the {name} FLOPs (no formula): {", ".join(ops)}'
                for name, ops in unknown if ops]))
        tables.append(Table(
            ['model'] + [f'{p} (ms)' for p in LATENCY_PARTS] + [
                'latency (ms)', 'latency / base', 'fused RepVGG (ms)',
                'fused / unfused'],
            time_rows,
            title=f"Latency at {shape} (batch 1, {report['device']})",
            notes=[
                'per part: median time inside each part, read by forward '
                'hooks (synchronised on CUDA); fusion = hybrid encoder '
                'minus its transformer layers; selection + head = the rest',
                'latency: median of whole predict steps, models timed in '
                'turn; fused RepVGG: the same model with every RepVGG block '
                'folded into one 3x3 conv (switch_to_deploy)']))
    if report['moe']:
        header = ['config', 'layer', 'E', 'k', 'expert hidden', 'tokens',
                  'MoE (ms)', 'all experts (ms)', 'dense FFN (ms)',
                  'MoE / (k/E all)', 'MoE / dense', 'FLOPs / dense']
        rows = [[r['config'], r['layer'], r['experts'], r['top_k'],
                 r['expert_hidden'], r['tokens'], _f(r['moe_ms']),
                 _f(r['all_experts_ms']), _f(r['dense_ffn_ms']),
                 _f(r['moe_over_ideal']), _f(r['moe_over_dense']),
                 _f(r['flops_over_dense'])] for r in report['moe']]
        tables.append(Table(header, rows, title='MoE layers (inference)'))
    if report['pruning']:
        header = ['config', 'input', 'batch', 'tokens', 'kept',
                  'keep ratio', 'pruned (ms)', 'unpruned (ms)',
                  'time ratio']
        rows = [[r['config'], r['input'], r['batch'], r['tokens'], r['kept'],
                 _f(r['keep_ratio']), _f(r['pruned_ms']),
                 _f(r['unpruned_ms']), _f(r['time_ratio'], 3)]
                for r in report['pruning']]
        tables.append(Table(header, rows,
                            title='Pruned encoder transformer (inference)'))
    return tables


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='FLOPs, params and latency of RT-DETR / DSET configs')
    parser.add_argument('configs', nargs='+',
                        help='detection configs; the first is the baseline')
    parser.add_argument('--shapes', type=parse_shape, nargs='+',
                        default=[(640, 640), (720, 1280)],
                        help='input sizes HxW (default: 640x640 720x1280)')
    parser.add_argument('--moe-tokens', type=int, nargs='+',
                        default=[400, 920, 3200, 7360],
                        help='token counts of the MoE layer measurement '
                        '(400 / 920: one 640x640 / 1280x720 image at '
                        'stride 32; 3200 / 7360: eight of them)')
    parser.add_argument('--prune-batch-sizes', type=int, nargs='+',
                        default=[1, 8])
    parser.add_argument('--dense-hidden', type=int, default=1024,
                        help='hidden width of the dense FFN an MoE replaces')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    add_device_args(parser)
    parser.add_argument('--out-dir', default=DEFAULT_OUT,
                        help='where costs.json and costs.md are written')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    device = check_device(args.device)
    specs = [ModelSpec(c) for c in args.configs]
    with num_threads(args.threads):
        models = {s.name: build_model(s, device).eval() for s in specs}
        report = dict(
            baseline=specs[0].name,
            configs={s.name: s.config for s in specs},
            shapes=[f'{h}x{w}' for h, w in args.shapes],
            device=device,
            threads=torch.get_num_threads(),
            torch=torch.__version__,
            flops_convention=FLOPS_CONVENTION,
            models=measure_models(models, args.shapes, args.warmup,
                                  args.repeats, device),
            moe=measure_moe(models, args.moe_tokens, args.dense_hidden,
                            args.warmup, args.repeats, device),
            pruning=measure_pruning(models, args.shapes,
                                    args.prune_batch_sizes, args.warmup,
                                    args.repeats, device))
    tables = report_tables(report)
    print(render(tables, 'markdown'))
    json_path = osp.join(args.out_dir, 'costs.json')
    md_path = osp.join(args.out_dir, 'costs.md')
    write_report(report, tables, json_path, md_path)
    print_log(f'wrote {json_path} and {md_path}', logger='current')


if __name__ == '__main__':
    run_cli(main)
