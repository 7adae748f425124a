"""Parameters and FLOPs of a model: ``python tools/analysis_tools/get_flops.py
CONFIG [--shape H W]``.

The model's ``tensor`` mode runs on one random (1, 3, H, W) image; the table
breaks the counts down to depth 2 (encoder, selector, decoder, heads and
their children).
"""
import argparse
import os.path as osp
import sys
from typing import Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction  # noqa: E402

from featsel.utils.cli import run_cli  # noqa: E402
from featsel.utils.benchmark import (FLOPS_NOTE, ModelSpec,  # noqa: E402
                                     build_model, complexity_rows,
                                     count_flops, count_params, format_table)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the parameters and FLOPs of a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512],
                        metavar=('H', 'W'), help='input image size')
    parser.add_argument('--max-depth', type=int, default=2,
                        help='deepest module level in the table')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.encoder.base_channels=8')
    return parser.parse_args(argv)


def complexity_report(spec: ModelSpec, shape: Sequence[int],
                      max_depth: int = 2) -> str:
    """Totals, the per-module table and the FLOP-counting caveats."""
    model = build_model(spec)
    flops = count_flops(model, tuple(shape))
    lines = [
        f'config: {spec.config}',
        f'input:  1x3x{shape[0]}x{shape[1]}',
        f'params: {count_params(model) / 1e6:.4f} M',
        f'FLOPs:  {flops.total / 1e9:.4f} GMac',
        format_table(['module', 'params', 'GMac', '% of GMac'],
                     complexity_rows(model, flops, max_depth)),
        f'- {FLOPS_NOTE}',
    ]
    if flops.uncounted:
        listed = ', '.join(f'{op} x{n}'
                           for op, n in sorted(flops.uncounted.items()))
        lines.append(f'- traced but not counted: {listed}')
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file "{args.config}" does not exist')
    print(complexity_report(ModelSpec(args.config, args.cfg_options),
                            args.shape, args.max_depth))


if __name__ == '__main__':
    run_cli(main)
