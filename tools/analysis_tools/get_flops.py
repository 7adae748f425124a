"""Parameters and FLOPs of a model: ``python tools/analysis_tools/get_flops.py
CONFIG [--shape H W]``.

One inference step (preprocessing and ``predict``) runs on one random
image; the table breaks the counts down to ``--max-depth`` (encoder,
selector, decoder, heads and their children). FLOPs follow the convention
of ``featsel.analysis.flops`` (2 per multiply-add), printed below the table.
"""
import argparse
import os.path as osp
import sys
from typing import List, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction  # noqa: E402
from torch import nn  # noqa: E402

from featsel.analysis.compare import add_device_args  # noqa: E402
from featsel.analysis.flops import (FLOPS_CONVENTION, FlopCount,  # noqa: E402
                                    inference_flops)
from featsel.analysis.inputs import synthetic_batch  # noqa: E402
from featsel.analysis.models import (ModelSpec, build_model,  # noqa: E402
                                     params_by_module)
from featsel.analysis.table import STYLES, Table, format_table  # noqa: E402
from featsel.analysis.timing import check_device  # noqa: E402
from featsel.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the parameters and FLOPs of a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512],
                        metavar=('H', 'W'), help='input image size')
    parser.add_argument('--max-depth', type=int, default=2,
                        help='deepest module level in the table')
    parser.add_argument('--format', choices=STYLES, default='text')
    add_device_args(parser)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.encoder.base_channels=8')
    return parser.parse_args(argv)


def complexity_rows(model: nn.Module, flops: FlopCount,
                    max_depth: int = 2) -> List[List[str]]:
    """Rows ``[module, params, GFLOPs, % of FLOPs]`` down to ``max_depth``.

    Every top-level module is listed; deeper ones only when they hold
    parameters or FLOPs.
    """
    params = params_by_module(model)
    total = max(flops.total, 1)
    rows = [['model', f"{params.get('', 0):,}", f'{flops.total / 1e9:.4f}',
             '100.0']]
    for name, _ in model.named_modules():
        depth = name.count('.') + 1 if name else 0
        p, f = params.get(name, 0), flops.by_module.get(name, 0)
        if not 1 <= depth <= max_depth or (depth > 1 and not p + f):
            continue
        rows.append(['  ' * depth + name, f'{p:,}', f'{f / 1e9:.4f}',
                     f'{100 * f / total:.1f}'])
    return rows


def complexity_table(spec: ModelSpec, shape: Sequence[int],
                     max_depth: int = 2, device: str = 'cpu') -> Table:
    """Totals, the per-module table and the FLOP convention."""
    model = build_model(spec, check_device(device))
    flops = inference_flops(model, synthetic_batch(model, 1, shape))
    notes = [f'input 1x3x{shape[0]}x{shape[1]}, one inference step',
             FLOPS_CONVENTION]
    if flops.unknown_note():
        notes.append(flops.unknown_note())
    return Table(['module', 'params', 'GFLOPs', '% of FLOPs'],
                 complexity_rows(model, flops, max_depth),
                 title=f'config: {spec.config}', notes=notes)


def main(argv=None) -> None:
    args = parse_args(argv)
    print(format_table(complexity_table(
        ModelSpec(args.config, args.cfg_options), args.shape,
        args.max_depth, args.device), args.format))


if __name__ == '__main__':
    run_cli(main)
