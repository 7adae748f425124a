"""What the sparsity mechanisms of DSET cost and save, measured:
``python tools/analysis_tools/dset_costs.py CONFIG [CONFIG ...]``.

The first config is the baseline every ratio refers to (e.g.
``configs/dset/rtdetr_r18.py``). In one run, on the same random inputs:

1. **Whole models** at each ``--shapes`` input (640x640 and 1280x720 by
   default; 720 is padded to 736 as the data preprocessor does): params,
   GFLOPs per part (backbone, encoder transformer incl. pruner, cross-scale
   fusion, decoder, query selection + head, and the MoE layers inside them)
   and inference latency (median of ``--repeats`` after ``--warmup``
   batches, models timed in turn).
2. **MoE layers** of the configs at several token counts: sparse dispatch
   against (k/E x running every expert densely on every token) -- the
   target is <= 1.5 -- and against the dense FFN the layer replaces.
3. **Pruned encoder transformer**: time of the pruned top-level encoder
   (pruner + transformer on the kept tokens + restore) over the same module
   run on every token, next to the keep ratio.

FLOPs are counted by ``torch.utils.flop_counter`` (2 per multiply-add of
matmuls, convolutions and attention); the bilinear sampling of deformable
attention and element-wise ops are not counted. Models keep random weights:
routing and pruning decisions then differ from a trained model's, their cost
does not. The report is printed and written as JSON and Markdown.
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
from mmengine.config import Config  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from featsel.utils.cli import run_cli  # noqa: E402
from featsel.utils import dump_json_atomic, write_bytes_atomic  # noqa: E402
from featsel.utils.benchmark import (count_params, format_table,  # noqa: E402
                                     num_threads, time_alternately)

DEFAULT_OUT = osp.join('work_dirs', 'dset_costs')
Shape = Tuple[int, int]


# ---------------------------------------------------------------------- #
# Models
# ---------------------------------------------------------------------- #
def build_detector(config: str, seed: int = 0) -> nn.Module:
    """Build ``cfg.model`` of a detection config in mmdet's scope, eval."""
    import featsel.det  # noqa: F401  (registers the detector parts)
    from mmdet.registry import MODELS

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    return model.eval()


def model_name(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def synthetic_inputs(shape: Shape, batch_size: int = 1,
                     divisor: int = 32) -> Tuple[Tensor, list]:
    """A normalised random batch of ``shape`` images, padded as mmdet's
    ``DetDataPreprocessor`` pads, with matching data samples."""
    from mmdet.structures import DetDataSample
    h, w = shape
    pad_h, pad_w = (-(-h // divisor) * divisor, -(-w // divisor) * divisor)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.zeros(batch_size, 3, pad_h, pad_w)
    inputs[..., :h, :w] = torch.randn(batch_size, 3, h, w,
                                      generator=generator)
    samples = [
        DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), batch_input_shape=(pad_h,
                                                                   pad_w),
            pad_shape=(pad_h, pad_w), scale_factor=(1., 1.)))
        for _ in range(batch_size)
    ]
    return inputs, samples


def moe_layers(model: nn.Module) -> Dict[str, nn.Module]:
    from featsel.models.layers import MoEFFN
    return {n: m for n, m in model.named_modules() if isinstance(m, MoEFFN)}


def part_modules(model: nn.Module) -> Dict[str, List[str]]:
    """Module names making up each reported part of an RT-DETR model."""
    # module lists have no forward: name the transformer layers themselves
    encoder_layers = [
        f'neck.encoders.{i}.{j}' for i, layers in enumerate(
            model.neck.encoders) for j in range(len(layers))
    ]
    parts = {
        'backbone': ['backbone'],
        'encoder transformer': encoder_layers,
        'neck': ['neck'],
        'decoder': ['decoder'],
    }
    if getattr(model.neck, 'pruner', None) is not None:
        parts['encoder transformer'].append('neck.pruner')
    moe = moe_layers(model)
    parts['encoder MoE'] = [n for n in moe if n.startswith('neck.')]
    parts['decoder MoE'] = [n for n in moe if n.startswith('decoder.')]
    return parts


def count_flops_by_part(model: nn.Module,
                        inputs: Tensor, samples: list) -> Dict[str, float]:
    """GFLOPs of one ``predict`` call in total and per part.

    Forward hooks read the counter's running total before and after each
    module, so a part's FLOPs are exactly those spent inside it.
    """
    counter = FlopCounterMode(display=False)
    modules = dict(model.named_modules())
    parts = part_modules(model)
    spent = {name: 0 for names in parts.values() for name in names}
    handles = []
    for name in spent:
        start = {}

        def pre(_m, _a, name=name, start=start):
            start[name] = counter.get_total_flops()

        def post(_m, _a, _o, name=name, start=start):
            spent[name] += counter.get_total_flops() - start[name]

        handles += [modules[name].register_forward_pre_hook(pre),
                    modules[name].register_forward_hook(post)]
    try:
        with torch.no_grad(), counter:
            model.predict(inputs, samples)
    finally:
        for handle in handles:
            handle.remove()
    giga = {part: sum(spent[n] for n in names) / 1e9
            for part, names in parts.items()}
    total = counter.get_total_flops() / 1e9
    giga['fusion'] = giga.pop('neck') - giga['encoder transformer']
    giga['selection + head'] = (total - giga['backbone'] - giga['fusion'] -
                                giga['encoder transformer'] -
                                giga['decoder'])
    giga['total'] = total
    return giga


PART_ORDER = ('backbone', 'encoder transformer', 'fusion', 'decoder',
              'selection + head', 'encoder MoE', 'decoder MoE', 'total')


def predict(model: nn.Module, inputs: Tensor, samples: list) -> None:
    with torch.no_grad():
        model.predict(inputs, samples)


def measure_models(models: Dict[str, nn.Module], configs: Sequence[str],
                   shapes: Sequence[Shape], warmup: int,
                   repeats: int) -> dict:
    """Params, GFLOPs per part and latency of every model at every shape
    (``models`` in the order of their ``configs``)."""
    report = {
        name: dict(config=config, params_m=count_params(m) / 1e6, shapes={})
        for (name, m), config in zip(models.items(), configs)
    }
    for shape in shapes:
        key = f'{shape[0]}x{shape[1]}'
        inputs, samples = synthetic_inputs(shape)
        print_log(f'FLOPs and latency at {key} ...', logger='current')
        steps: Dict[str, Callable[[], None]] = {}
        for name, model in models.items():
            report[name]['shapes'][key] = dict(
                gflops=count_flops_by_part(model, inputs, samples))

            steps[name] = partial(predict, model, inputs, samples)
        times = time_alternately(steps, warmup, repeats)
        sys.stdout.write('\n')
        for name in models:
            report[name]['shapes'][key]['latency_ms'] = 1e3 * median(
                times[name])
            report[name]['shapes'][key]['latency_ms_all'] = [
                1e3 * t for t in times[name]
            ]
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
                dense_hidden: int, warmup: int, repeats: int) -> List[dict]:
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
            dense = dense_ffn_like(moe, dense_hidden)
            for n in token_counts:
                tokens = torch.randn(n, moe.embed_dims,
                                     generator=torch.Generator().manual_seed(
                                         n))
                steps = {
                    'moe': partial(moe, tokens),
                    'all experts': partial(run_all_experts, moe, tokens),
                    'dense FFN': partial(dense, tokens),
                }
                with torch.no_grad():
                    times = time_alternately(steps, warmup, repeats)
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
                    repeats: int) -> List[dict]:
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
                feat = torch.randn(batch, neck.embed_dims, h, w,
                                   generator=torch.Generator().manual_seed(0))
                steps = dict(
                    pruned=partial(encode_top_level, neck, feat, pruner),
                    unpruned=partial(encode_top_level, neck, feat, None))
                with torch.no_grad():
                    times = time_alternately(steps, warmup, repeats)
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


def format_markdown(report: dict) -> str:
    models = report['models']
    base = next(iter(models))
    lines = [f'Baseline: `{base}`. Ratios are to the baseline in the same '
             'run.', '']
    for shape in report['shapes']:
        header = ['model', 'params (M)'] + list(PART_ORDER) + [
            'GFLOPs / base', 'latency (ms)', 'latency / base'
        ]
        rows = []
        b = models[base]['shapes'][shape]
        for name, m in models.items():
            s = m['shapes'][shape]
            rows.append([name, _f(m['params_m'])] + [
                _f(s['gflops'].get(p, 0.0)) for p in PART_ORDER
            ] + [
                _f(s['gflops']['total'] / b['gflops']['total'], 3),
                _f(s['latency_ms'], 1),
                _f(s['latency_ms'] / b['latency_ms'], 3)
            ])
        lines += [f'### Whole models at {shape} (GFLOPs per part)', '',
                  format_table(header, rows), '']
    if report['moe']:
        header = ['config', 'layer', 'E', 'k', 'expert hidden', 'tokens',
                  'MoE (ms)', 'all experts (ms)', 'dense FFN (ms)',
                  'MoE / (k/E all)', 'MoE / dense', 'FLOPs / dense']
        rows = [[r['config'], r['layer'], r['experts'], r['top_k'],
                 r['expert_hidden'], r['tokens'], _f(r['moe_ms']),
                 _f(r['all_experts_ms']), _f(r['dense_ffn_ms']),
                 _f(r['moe_over_ideal']), _f(r['moe_over_dense']),
                 _f(r['flops_over_dense'])] for r in report['moe']]
        lines += ['### MoE layers (inference)', '',
                  format_table(header, rows), '']
    if report['pruning']:
        header = ['config', 'input', 'batch', 'tokens', 'kept',
                  'keep ratio', 'pruned (ms)', 'unpruned (ms)',
                  'time ratio']
        rows = [[r['config'], r['input'], r['batch'], r['tokens'], r['kept'],
                 _f(r['keep_ratio']), _f(r['pruned_ms']),
                 _f(r['unpruned_ms']), _f(r['time_ratio'], 3)]
                for r in report['pruning']]
        lines += ['### Pruned encoder transformer (inference)', '',
                  format_table(header, rows), '']
    return '\n'.join(lines)


def parse_shape(text: str) -> Shape:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'--shapes takes HxW such as 640x640, got "{text}"') from None
    return h, w


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
    parser.add_argument('--threads', type=int,
                        help="intra-op CPU threads (default: torch's)")
    parser.add_argument('--out-dir', default=DEFAULT_OUT,
                        help='where costs.json and costs.md are written')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    for config in args.configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file not found: {config}')
    models = {model_name(c): build_detector(c) for c in args.configs}
    with num_threads(args.threads):
        report = dict(
            baseline=model_name(args.configs[0]),
            shapes=[f'{h}x{w}' for h, w in args.shapes],
            threads=torch.get_num_threads(),
            torch=torch.__version__,
            models=measure_models(models, args.configs, args.shapes,
                                  args.warmup, args.repeats),
            moe=measure_moe(models, args.moe_tokens, args.dense_hidden,
                            args.warmup, args.repeats),
            pruning=measure_pruning(models, args.shapes,
                                    args.prune_batch_sizes, args.warmup,
                                    args.repeats))
    markdown = format_markdown(report)
    print(markdown)
    json_path = osp.join(args.out_dir, 'costs.json')
    md_path = osp.join(args.out_dir, 'costs.md')
    dump_json_atomic(report, json_path)
    write_bytes_atomic((markdown + '\n').encode(), md_path)
    print_log(f'wrote {json_path} and {md_path}', logger='current')


if __name__ == '__main__':
    run_cli(main)
