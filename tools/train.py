"""Train a model from a config: ``python tools/train.py CONFIG``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

from featsel.utils.cli import (add_runner_args, build_runner,  # noqa: E402
                               load_config, resolve_auto_resume, run_cli)
from featsel.utils import ConfigError  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a featsel model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest '
        'checkpoint of the work dir when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training')
    add_runner_args(parser)
    return parser.parse_args()


def merge_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold ``--amp`` and ``--resume`` into the config.

    ``--resume`` without a path continues from the newest checkpoint of the
    work dir (see :func:`resolve_auto_resume`), or starts afresh when there
    is none.
    """
    if args.amp:
        if not torch.cuda.is_available():
            raise ConfigError('--amp needs a GPU: mmengine\'s '
                              'AmpOptimWrapper does not run on a CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = (resolve_auto_resume(cfg.work_dir)
                         if args.resume == 'auto' else args.resume)
    return cfg


def main() -> None:
    args = parse_args()
    cfg = merge_train_args(load_config(args), args)
    build_runner(cfg).train()


if __name__ == '__main__':
    run_cli(main)
