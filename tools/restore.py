"""Restore one image "global, then tile" and write it as a PNG:
``python tools/restore.py IMAGE --config CONFIG --checkpoint CKPT
--task dehaze``.

The encoder and the global bottleneck run once over the whole image (crop
mini-batches), the decoder with the task's adapters tile by tile, blended
(``featsel.apis.restore``). Without ``--task`` the backbone runs without
adapters (the dense-unified model).
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcv  # noqa: E402
import numpy as np  # noqa: E402

from featsel.apis import init_model, restore  # noqa: E402
from featsel.apis.restoration import BLENDS  # noqa: E402
from featsel.utils import ConfigError  # noqa: E402
from featsel.utils.cli import CfgOptionsAction, run_cli  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Restore an image with a restoration model, tiled')
    parser.add_argument('image', help='degraded image file')
    parser.add_argument('--config', required=True, help='model config file')
    parser.add_argument('--checkpoint', help='checkpoint file (none: the '
                        'initial weights, for a quick check only)')
    parser.add_argument('--task', help='adapter task (dehaze, derain, '
                        'desnow); none: the backbone without adapters')
    parser.add_argument('--tile', type=int, default=512,
                        help='largest tile side (default 512)')
    parser.add_argument('--overlap', type=int, default=64,
                        help='overlap of neighbouring tiles (default 64)')
    parser.add_argument('--blend', choices=BLENDS, default='hann',
                        help='tile blending (default hann)')
    parser.add_argument('--out', help='output PNG (default: '
                        '<image stem>_<task or dense>.png beside the image)')
    parser.add_argument('--device', default='cpu', help='torch device')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings')
    return parser.parse_args()


def output_path(args: argparse.Namespace) -> str:
    """``--out``, else ``<stem>_<task or dense>.png`` beside the image."""
    if args.out:
        if not args.out.lower().endswith('.png'):
            raise ConfigError(f'--out must be a .png file, got "{args.out}"')
        return args.out
    stem = osp.splitext(args.image)[0]
    return f'{stem}_{args.task or "dense"}.png'


def main() -> None:
    args = parse_args()
    out = output_path(args)
    model = init_model(args.config, args.checkpoint, args.device,
                       args.cfg_options)
    start = time.perf_counter()
    restored = restore(model, args.image, task=args.task, tile=args.tile,
                       overlap=args.overlap, blend=args.blend)
    seconds = time.perf_counter() - start
    if not mmcv.imwrite(np.ascontiguousarray(restored[..., ::-1]), out):
        raise OSError(f'cannot write "{out}"')
    height, width = restored.shape[:2]
    print(f'{out}: {width}x{height}, task {args.task or "none (dense)"}, '
          f'tile {args.tile}, overlap {args.overlap}, {args.blend} blending, '
          f'{seconds:.1f} s')


if __name__ == '__main__':
    run_cli(main)
