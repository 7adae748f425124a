"""Write ``meta.jsonl`` for paired restoration data in a known layout.

Layouts (details in ``featsel/datasets/restoration/converters.py``):
``folder_pairs`` (``ROOT/lq`` and ``ROOT/gt`` with the same file names;
``--degradation`` required), ``reside_sots`` (RESIDE SOTS ``hazy/`` +
``gt/``/``clear/``), ``rain100`` (Rain100L/H ``rain-<n>``/``norain-<n>``)
and ``snow100k`` (Snow100K ``synthetic/`` + ``gt/``).

Whole scenes go to one split: ``--val-frac`` and ``--test-frac`` of the
scenes (seeded) go to val and test, or ``--split NAME`` puts every pair in
one split (a public test set stays a test set). Image paths are written
relative to the meta file's folder. Unless ``--no-quality``, the clean
image's pHash and the degraded image's estimated severity are filled in.

Example::

    python tools/dataset_converters/restoration_to_meta.py \\
        data/SOTS --layout reside_sots --split test
    python tools/dataset_converters/restoration_to_meta.py \\
        data/my_haze --layout folder_pairs --degradation haze \\
        --lq-dir hazy --gt-dir clear --scene-regex '^(\\d+)_' \\
        --val-frac 0.1 --test-frac 0.1
"""
import argparse
import os.path as osp
import sys
from collections import Counter
from typing import List, Optional

# Make ``featsel`` importable when the repository is not installed.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from featsel.datasets.restoration.converters import (  # noqa: E402
    LAYOUTS, pair_records, scene_splits)
from featsel.datasets.restoration.meta import write_meta  # noqa: E402
from featsel.utils import ConfigError, DataError  # noqa: E402
from featsel.utils.cli import run_cli  # noqa: E402

# options that only the folder_pairs layout reads
_FOLDER_ONLY = ('degradation', 'lq_dir', 'gt_dir', 'scene_regex')
_SHOWN = 3


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write meta.jsonl for paired restoration data.')
    parser.add_argument('root', help='folder of the data set')
    parser.add_argument('--layout', required=True, choices=sorted(LAYOUTS))
    parser.add_argument('--out', help='meta file (default ROOT/meta.jsonl)')
    parser.add_argument(
        '--dataset',
        help='data set name (default: the layout\'s name, for folder_pairs '
        'the name of ROOT)')
    parser.add_argument('--degradation',
                        help='folder_pairs: haze, rain, snow, ...')
    parser.add_argument('--lq-dir', help='folder_pairs: degraded images '
                        '(default lq)')
    parser.add_argument('--gt-dir', help='folder_pairs: targets '
                        '(default gt)')
    parser.add_argument(
        '--scene-regex',
        help='folder_pairs: regular expression whose first group, searched '
        'in a file name, is its scene (default: the whole name)')
    parser.add_argument('--split', help='put every pair in this split')
    parser.add_argument('--val-frac', type=float, default=0.1,
                        help='fraction of scenes in val (default 0.1)')
    parser.add_argument('--test-frac', type=float, default=0.1,
                        help='fraction of scenes in test (default 0.1)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the scene split')
    parser.add_argument('--crop-border', type=int, default=0,
                        help='pixels the metrics leave out at each border')
    parser.add_argument('--no-quality', action='store_true',
                        help='leave hash and severity null (no decoding)')
    return parser.parse_args(argv)


def find_pairs(args: argparse.Namespace):
    """The layout's pairs; options of another layout are an error."""
    if args.layout != 'folder_pairs':
        given = [k for k in _FOLDER_ONLY if getattr(args, k) is not None]
        if given:
            raise ConfigError(f'--{given[0].replace("_", "-")} is an option '
                              f'of --layout folder_pairs, not {args.layout}')
    if not osp.isdir(args.root):
        raise DataError(f'data folder "{args.root}" does not exist')
    finder = LAYOUTS[args.layout]
    if args.layout == 'folder_pairs':
        if not args.degradation:
            raise ConfigError('--layout folder_pairs needs --degradation')
        return finder(
            args.root, args.degradation,
            args.dataset or osp.basename(osp.abspath(args.root)),
            lq_dir=args.lq_dir or 'lq', gt_dir=args.gt_dir or 'gt',
            scene_regex=args.scene_regex)
    if args.dataset:
        return finder(args.root, args.dataset)
    return finder(args.root)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    out = args.out or osp.join(args.root, 'meta.jsonl')
    if args.crop_border < 0:
        raise ConfigError(f'--crop-border must be >= 0, got '
                          f'{args.crop_border}')
    found = find_pairs(args)
    if found.unpaired:
        shown = ', '.join(f'"{p}"' for p in found.unpaired[:_SHOWN])
        print(f'warning: {len(found.unpaired)} degraded images have no '
              f'target and are left out: {shown}'
              f'{", ..." if len(found.unpaired) > _SHOWN else ""}')
    if not found.pairs:
        raise DataError(f'no pair found under "{args.root}" with --layout '
                        f'{args.layout}')
    scenes = [p.scene for p in found.pairs]
    if args.split:
        splits = {scene: args.split for scene in scenes}
    else:
        splits = scene_splits(scenes, args.val_frac, args.test_frac,
                              args.seed)
    records = pair_records(found.pairs, osp.dirname(osp.abspath(out)),
                           splits, args.crop_border, not args.no_quality)
    write_meta(out, records)
    counts = Counter(r['split'] for r in records)
    print(f'\nwrote {len(records)} pairs of {len(set(scenes))} scenes to '
          f'{out}: ' + ', '.join(f'{k} {v}' for k, v in sorted(
              counts.items())))


if __name__ == '__main__':
    run_cli(main)
