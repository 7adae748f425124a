"""Print the fully merged config: every ``_base_`` resolved, overrides applied.

Example::

    python tools/misc/print_config.py configs/e6_patchgate.py \
        --cfg-options train_dataloader.batch_size=4 --save-path merged.py
"""
import argparse
import os.path as osp
import sys

# the repository root, so that custom_imports can reach projects.*
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import Config, DictAction  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Print the merged config, with all _base_ files and '
        'overrides applied')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs such as '
        'model.backbone.depth=18; a list is written key="[a,b]" or key=a,b, '
        'nested lists and tuples keep their brackets, e.g. '
        'key="[(a,b),(c,d)]", with the quotes and no spaces')
    parser.add_argument(
        '--save-path',
        help='also write the merged config to this file (.py, .json or '
        '.yml/.yaml)')
    args = parser.parse_args()
    if args.save_path is not None and osp.splitext(
            args.save_path)[1] not in ('.py', '.json', '.yml', '.yaml'):
        parser.error(f'--save-path must end in .py, .json, .yml or .yaml, '
                     f'got {args.save_path!r}')
    return args


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    print(cfg.pretty_text)

    if args.save_path is not None:
        cfg.dump(args.save_path)
        print(f'Merged config saved to {args.save_path}')


if __name__ == '__main__':
    main()
