"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config  # noqa: E402
from mmengine.evaluator import DumpResults  # noqa: E402

from featsel.utils.cli import (add_runner_args, build_runner,  # noqa: E402
                               load_config, run_cli)
from featsel.utils import ConfigError  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a featsel model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump predictions to this pickle file')
    parser.add_argument(
        '--show-dir',
        help='write prediction pictures (segmentation: image | mask | SDF | '
        'boundary panels; detection: boxes over the image) to this folder, '
        'relative to the timestamped run folder of the work dir')
    add_runner_args(parser)
    return parser.parse_args()


def merge_test_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the checkpoint, ``--out`` and ``--show-dir`` into the config."""
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'"{args.checkpoint}" does not exist')
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        raise ConfigError(f'--out must be a .pkl file, got "{args.out}"')
    cfg.load_from = args.checkpoint
    if args.show_dir:
        hook = cfg.get('default_hooks', {}).get('visualization')
        if hook is None:
            raise ConfigError('--show-dir needs default_hooks.visualization '
                              'in the config')
        # mmdet's DetVisualizationHook calls the folder test_out_dir
        is_det = str(hook.get('type', '')).endswith('DetVisualizationHook')
        hook.update({'draw': True,
                     'test_out_dir' if is_det else 'show_dir': args.show_dir})
    return cfg


def main() -> None:
    args = parse_args()
    cfg = merge_test_args(load_config(args), args)
    runner = build_runner(cfg)
    if args.out:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    run_cli(main)
