""""Global, then tile" restoration, measured in one run:
``python tools/analysis_tools/restoration_costs.py [--config CONFIG]``.

The model is the restoration backbone of ``--config`` (a
``GlobalLocalRestorer`` or a model holding one as ``.backbone``; weights from
``--checkpoint``), or the demo-size backbone with its defaults. Inputs are
synthetic hazy scenes (``featsel.analysis.inputs``, maker of
``GlobalLocalRestorer``). On ``--device`` it reports:

1. **Parameters**: the backbone by part, and what one expert's adapters add
   (params and % of the backbone) for each adapter kind, hung on the
   decoder blocks or on all blocks.
2. **Speed at ``--speed-shape``** (1024 x 1024): GFLOPs per megapixel of
   the encoder + bottleneck pass and of the decoder, untiled and tiled, and
   ms per megapixel (median of ``--repeats`` after ``--warmup``, the
   variants timed in turn) of the untiled forward against ``restore``
   tiled (``--tile``, ``--overlap``, Hann, no context) and exact-tiled
   (context = the receptive radius, no overlap); goal: tiled <= 1.3 x
   untiled.
3. **Tile penalty** on images that fit untiled (``--penalty-shapes``):
   PSNR(tiled, clean) - PSNR(untiled, clean) for Hann and uniform blending
   at each ``--overlaps``, without and with context, and the PSNR and
   largest difference between tiled and untiled outputs.
4. **Memory at ``--memory-shapes``** (1K, 2K, 4K): peak tensor memory
   (``featsel.analysis.memory``) and time of one tiled restore, the size of
   the cache, and the peak of an untiled forward up to
   ``--untiled-max-mp`` megapixels.

``--quick`` shrinks every size for a test run. The report is printed and
written as ``restoration_costs.json`` and ``.md`` under ``--out-dir``.
"""
import argparse
import copy
import os.path as osp
import sys
import time
from statistics import median
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from torch import Tensor  # noqa: E402

from featsel.analysis.compare import add_device_args  # noqa: E402
from featsel.analysis.flops import FLOPS_CONVENTION, count_flops  # noqa: E402
from featsel.analysis.inputs import synthetic_batch  # noqa: E402
from featsel.analysis.memory import (MEMORY_NOTE, MIB,  # noqa: E402
                                     peak_memory_bytes)
from featsel.analysis.models import ModelSpec, build_model  # noqa: E402
from featsel.analysis.table import (Table, number, render,  # noqa: E402
                                    write_report)
from featsel.analysis.timing import (check_device, num_threads,  # noqa: E402
                                     time_alternately)
from featsel.apis.restoration import (find_restorer,  # noqa: E402
                                      resolve_context, restore_tensor,
                                      tile_regions, tiled_decode)
from featsel.engine.compat import load_local_checkpoint  # noqa: E402
from featsel.evaluation.restoration import psnr  # noqa: E402
from featsel.models import GlobalLocalRestorer  # noqa: E402
from featsel.utils.cli import CfgOptionsAction, parse_shape, run_cli  # noqa: E402

DEFAULT_OUT = osp.join('work_dirs', 'restoration_costs')
Shape = Tuple[int, int]
#: (name, adapter config) of one expert, for the overhead table
ADAPTER_VARIANTS = (
    ('BottleneckAdapter r=1/16', dict(type='BottleneckAdapter',
                                      ratio=1 / 16)),
    ('BottleneckAdapter r=1/32', dict(type='BottleneckAdapter',
                                      ratio=1 / 32)),
    ('ConvLoRA rank 4', dict(type='ConvLoRA', rank=4)),
    ('ConvLoRA rank 8', dict(type='ConvLoRA', rank=8)),
    ('FiLM', dict(type='FiLM')),
)
QUICK = dict(speed_shape=(256, 256), penalty_shapes=[(192, 256)],
             memory_shapes=[(256, 256), (384, 512)], tile=128, overlap=32,
             overlaps=[32], warmup=0, repeats=1)


def megapixels(shape: Shape) -> float:
    return shape[0] * shape[1] / 1e6


def label(shape: Shape) -> str:
    return f'{shape[0]}x{shape[1]}'


def batch_images(backbone: GlobalLocalRestorer, shape: Shape,
                 device: str) -> Tuple[Tensor, Tensor]:
    """A hazy synthetic image and its clean scene, (1, 3, H, W) in [0, 1]."""
    batch = synthetic_batch(backbone, 1, shape)
    x = batch['inputs'][0][None].float().div(255).to(device)
    gt = batch['data_samples'][0].gt_img.data[None].float().div(255)
    return x, gt.to(device)


# ---------------------------------------------------------------------- #
# 1. parameters
# ---------------------------------------------------------------------- #
def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def measure_params(backbone: GlobalLocalRestorer) -> dict:
    """The backbone by layer group, and one expert's adapters per variant
    and position (a copy of the backbone gets them)."""
    groups = {name: count(m) for name, m in backbone.layer_groups()}
    total = sum(groups.values())
    adapters = []
    for position in ('decoder', 'all'):
        probe = copy.deepcopy(backbone).cpu()
        probe.adapter_position = position
        probe.adapters.clear()
        for name, cfg in ADAPTER_VARIANTS:
            probe.register_adapter('probe', cfg)
            extra = count(probe.adapters['probe'])
            adapters.append(dict(adapter=name, position=position,
                                 sites=len(probe.adapter_sites()),
                                 params=extra, percent=100 * extra / total))
            probe.adapters.clear()
    registered = {task: count(m) for task, m in backbone.adapters.items()}
    return dict(backbone=total, groups=groups, adapters=adapters,
                registered=registered)


# ---------------------------------------------------------------------- #
# 2. speed
# ---------------------------------------------------------------------- #
def variants(backbone: GlobalLocalRestorer, tile: int,
             overlap: int) -> Dict[str, dict]:
    """The tiled settings compared with the untiled forward."""
    return {
        f'tiled {tile}/{overlap} hann': dict(tile=tile, overlap=overlap,
                                             blend='hann', context=0),
        f'exact-tiled {tile}/0': dict(tile=tile, overlap=0, blend='hann',
                                      context=None),
    }


def measure_speed(backbone: GlobalLocalRestorer, shape: Shape, tile: int,
                  overlap: int, warmup: int, repeats: int,
                  device: str) -> dict:
    """GFLOPs per megapixel by part and ms per megapixel of each variant."""
    x, _ = batch_images(backbone, shape, device)
    mp = megapixels(shape)
    settings = variants(backbone, tile, overlap)
    with torch.no_grad():
        cache = backbone.encode(x)
    unknown = set()

    def flops_of(run: Callable[[], object]) -> int:
        found = count_flops(backbone, run, warn=False)
        unknown.update(found.unknown)
        return found.total

    flops = dict(encode=flops_of(lambda: backbone.encode(x)),
                 decode=flops_of(lambda: backbone.decode(cache)))
    for name, kw in settings.items():
        flops[f'decode {name}'] = flops_of(
            lambda kw=kw: tiled_decode(backbone, cache, **kw))
    decoded = {}
    height, width = cache.padded_size
    for name, kw in settings.items():
        margin = resolve_context(backbone, kw['context'])
        regions = tile_regions(height, width, kw['tile'], kw['overlap'],
                               backbone.token_stride)
        area = sum((min(height, y1 + margin) - max(0, y0 - margin))
                   * (min(width, x1 + margin) - max(0, x0 - margin))
                   for y0, y1, x0, x1 in regions)
        decoded[name] = dict(tiles=len(regions), context=margin,
                             decoded_area=area / (height * width))

    def untiled() -> None:
        with torch.no_grad():
            backbone(x, return_global=False)

    steps: Dict[str, Callable[[], None]] = dict(untiled=untiled)
    for name, kw in settings.items():
        steps[name] = lambda kw=kw: restore_tensor(backbone, x, **kw)
    times = time_alternately(steps, warmup, repeats, device)
    ms_per_mp = {k: 1e3 * median(v) / mp for k, v in times.items()}
    return dict(shape=label(shape), padded=label(cache.padded_size),
                gflops_per_mp={k: v / 1e9 / mp for k, v in flops.items()},
                ms_per_mp=ms_per_mp,
                ratio={k: ms_per_mp[k] / ms_per_mp['untiled']
                       for k in settings},
                decoded=decoded, times_s=times, unknown_ops=sorted(unknown))


# ---------------------------------------------------------------------- #
# 3. tile penalty
# ---------------------------------------------------------------------- #
def measure_penalty(backbone: GlobalLocalRestorer, shapes: Sequence[Shape],
                    tile: int, overlaps: Sequence[int],
                    device: str) -> List[dict]:
    """Tiled against untiled, with the clean scene as reference."""
    rows = []
    for shape in shapes:
        x, gt = batch_images(backbone, shape, device)
        with torch.no_grad():
            untiled = backbone(x, return_global=False).clamp(0, 1)
        base = psnr(untiled, gt).item()
        for overlap in overlaps:
            for blend in ('hann', 'uniform'):
                for context in (0, None):
                    tiled = restore_tensor(backbone, x, None, tile, overlap,
                                           blend, context).clamp(0, 1)
                    rows.append(dict(
                        shape=label(shape), tile=tile, overlap=overlap,
                        blend=blend,
                        context=resolve_context(backbone, context),
                        psnr_untiled=base, psnr_tiled=psnr(tiled, gt).item(),
                        penalty_db=psnr(tiled, gt).item() - base,
                        agreement_db=psnr(tiled, untiled).item(),
                        max_abs_diff=(tiled - untiled).abs().max().item()))
    return rows


# ---------------------------------------------------------------------- #
# 4. memory
# ---------------------------------------------------------------------- #
def measure_memory(backbone: GlobalLocalRestorer, shapes: Sequence[Shape],
                   tile: int, overlap: int, untiled_max_mp: float,
                   device: str) -> List[dict]:
    """Peak memory and time of a tiled restore per shape; the untiled
    forward's peak up to ``untiled_max_mp``."""
    rows = []
    for shape in shapes:
        x, _ = batch_images(backbone, shape, device)

        def tiled(x: Tensor = x) -> None:
            restore_tensor(backbone, x, None, tile, overlap, 'hann', 0)

        def untiled(x: Tensor = x) -> None:
            with torch.no_grad():
                backbone(x, return_global=False)

        start = time.perf_counter()
        tiled()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            cache_mib = backbone.encode(x).nbytes / MIB
        row = dict(shape=label(shape), megapixels=megapixels(shape),
                   tiled_s=seconds,
                   tiled_peak_mib=peak_memory_bytes(tiled, device) / MIB,
                   cache_mib=cache_mib, untiled_peak_mib=None)
        if megapixels(shape) <= untiled_max_mp:
            row['untiled_peak_mib'] = peak_memory_bytes(untiled,
                                                        device) / MIB
        rows.append(row)
        print_log(f'memory at {label(shape)}: {row}', logger='current')
    return rows


# ---------------------------------------------------------------------- #
# report
# ---------------------------------------------------------------------- #
def _f(x: Optional[float], digits: int = 2) -> str:
    return '-' if x is None else f'{x:.{digits}f}'


def report_tables(report: dict) -> List[Table]:
    params, speed = report['params'], report['speed']
    tables = [
        Table(['part', 'params'],
              [[k, number(v)] for k, v in params['groups'].items()]
              + [['backbone', number(params['backbone'])]]
              + [[f'adapters of "{t}" (registered)', number(v)]
                 for t, v in params['registered'].items()],
              title='Backbone parameters'),
        Table(['adapter (one expert)', 'position', 'sites', 'params',
               '% of backbone'],
              [[r['adapter'], r['position'], r['sites'], number(r['params']),
                _f(r['percent'])] for r in params['adapters']],
              title='Adapter overhead per expert',
              notes=['target 1-3 % of the backbone per expert']),
    ]
    names = ['untiled'] + list(speed['ratio'])
    flops = speed['gflops_per_mp']
    tables.append(Table(
        ['variant', 'decoder GFLOPs/MP', 'total GFLOPs/MP', 'tiles',
         'decoded area / image', 'ms/MP', 'ms/MP / untiled'],
        [['untiled', _f(flops['decode']), _f(flops['encode']
                                              + flops['decode']),
          1, '1.00', _f(speed['ms_per_mp']['untiled'], 1), '1.00']] + [[
              name, _f(flops[f'decode {name}']),
              _f(flops['encode'] + flops[f'decode {name}']),
              speed['decoded'][name]['tiles'],
              _f(speed['decoded'][name]['decoded_area']),
              _f(speed['ms_per_mp'][name], 1), _f(speed['ratio'][name])]
                for name in names[1:]],
        title=(f"Speed at {speed['shape']} (padded {speed['padded']}, "
               f"{report['device']}, {report['threads']} threads)"),
        notes=[f"encoder + bottleneck: {_f(flops['encode'])} GFLOPs/MP, "
               'run once in every variant', 'goal: tiled <= 1.3 x untiled',
               'exact-tiled: each tile decoded with a context of the '
               'receptive radius (rounded to the token stride), no overlap',
               FLOPS_CONVENTION] + ([
                   'not in the FLOPs (no formula): '
                   + ', '.join(speed['unknown_ops'])]
                   if speed['unknown_ops'] else [])))
    tables.append(Table(
        ['image', 'overlap', 'blend', 'context', 'PSNR untiled',
         'PSNR tiled', 'penalty (dB)', 'tiled vs untiled (dB)',
         'max |diff|'],
        [[r['shape'], r['overlap'], r['blend'], r['context'],
          _f(r['psnr_untiled']), _f(r['psnr_tiled']), _f(r['penalty_db'], 3),
          _f(r['agreement_db'], 1), f"{r['max_abs_diff']:.1e}"]
         for r in report['penalty']],
        title=f"Tile penalty (tile {report['tile']})",
        notes=['PSNR against the clean scene of a synthetic hazy image; '
               'outputs clamped to [0, 1]', 'context: pixels decoded around '
               'each tile and dropped']))
    tables.append(Table(
        ['image', 'MP', 'tiled restore (s)', 'tiled peak (MiB)',
         'cache (MiB)', 'untiled peak (MiB)'],
        [[r['shape'], _f(r['megapixels']), _f(r['tiled_s'], 1),
          _f(r['tiled_peak_mib'], 0), _f(r['cache_mib'], 0),
          _f(r['untiled_peak_mib'], 0)] for r in report['memory']],
        title=(f"Memory (tile {report['tile']}, overlap "
               f"{report['overlap']}, Hann)"),
        notes=[MEMORY_NOTE, 'tiled restore: one call, encode and tiled '
               'decode; untiled: the plain forward ("-": not measured, '
               'above --untiled-max-mp)']))
    return tables


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Cost of "global, then tile" restoration')
    parser.add_argument('--config', help='config whose model holds a '
                        'GlobalLocalRestorer (default: the demo backbone)')
    parser.add_argument('--checkpoint', help='weights for --config')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='overrides of --config')
    parser.add_argument('--speed-shape', type=parse_shape,
                        default=(1024, 1024))
    parser.add_argument('--penalty-shapes', type=parse_shape, nargs='+',
                        default=[(512, 768), (1024, 1024)])
    parser.add_argument('--memory-shapes', type=parse_shape, nargs='+',
                        default=[(1024, 1024), (2048, 2048), (2160, 3840)])
    parser.add_argument('--tile', type=int, default=512)
    parser.add_argument('--overlap', type=int, default=64)
    parser.add_argument('--overlaps', type=int, nargs='+', default=[32, 64],
                        help='overlaps of the tile-penalty table')
    parser.add_argument('--untiled-max-mp', type=float, default=4.5,
                        help='largest image (megapixels) whose untiled '
                        'forward is measured')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--quick', action='store_true',
                        help='small sizes and one repeat (for tests)')
    add_device_args(parser)
    parser.add_argument('--out-dir', default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.checkpoint and not args.config:
        parser.error('--checkpoint needs --config')
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


def load_backbone(args: argparse.Namespace,
                  device: str) -> GlobalLocalRestorer:
    if args.config is None:
        torch.manual_seed(0)
        return GlobalLocalRestorer().to(device).eval()
    model = build_model(ModelSpec(args.config, args.cfg_options), device)
    if args.checkpoint:
        state = load_local_checkpoint(args.checkpoint, map_location=device)
        model.load_state_dict(state.get('state_dict', state))
    return find_restorer(model).eval()


def main(argv=None) -> None:
    args = parse_args(argv)
    device = check_device(args.device)
    with num_threads(args.threads):
        backbone = load_backbone(args, device)
        report = dict(
            config=args.config, device=device,
            threads=torch.get_num_threads(), torch=torch.__version__,
            tile=args.tile, overlap=args.overlap,
            receptive_radius=backbone.receptive_radius(),
            encoder_halo=backbone.encoder_halo(),
            flops_convention=FLOPS_CONVENTION,
            params=measure_params(backbone),
            speed=measure_speed(backbone, args.speed_shape, args.tile,
                                args.overlap, args.warmup, args.repeats,
                                device),
            penalty=measure_penalty(backbone, args.penalty_shapes, args.tile,
                                    args.overlaps, device),
            memory=measure_memory(backbone, args.memory_shapes, args.tile,
                                  args.overlap, args.untiled_max_mp, device))
    tables = report_tables(report)
    print(render(tables, 'markdown'))
    json_path = osp.join(args.out_dir, 'restoration_costs.json')
    md_path = osp.join(args.out_dir, 'restoration_costs.md')
    write_report(report, tables, json_path, md_path)
    print_log(f'wrote {json_path} and {md_path}', logger='current')


if __name__ == '__main__':
    run_cli(main)
