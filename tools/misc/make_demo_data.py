"""Write the synthetic lesion segmentation demo set.

Example::

    python tools/misc/make_demo_data.py    # writes data/demo_lesions
    python tools/misc/make_demo_data.py --out data/tiny --num-train 16
"""
import argparse
import os.path as osp
import shutil
import sys
from typing import List, Optional

# Make ``featsel`` importable when the repository is not installed.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from featsel.datasets.demo_lesions import make_demo_lesions  # noqa: E402

_SUBDIRS = ('img_dir', 'ann_dir', 'splits')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the synthetic lesion segmentation demo set.')
    parser.add_argument(
        '--out', default='data/demo_lesions', help='output directory')
    parser.add_argument('--num-train', type=int, default=240)
    parser.add_argument('--num-val', type=int, default=60)
    parser.add_argument('--size', type=int, default=128, help='image side')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--force',
        action='store_true',
        help='delete img_dir/, ann_dir/ and splits/ under --out and write '
        'them again')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if osp.isfile(osp.join(args.out, 'splits', 'train.txt')):
        if not args.force:
            print(f'{args.out} already holds a demo set; pass --force to '
                  'write it again.')
            return
        for sub in _SUBDIRS:
            shutil.rmtree(osp.join(args.out, sub), ignore_errors=True)
    ids = make_demo_lesions(
        args.out,
        num_train=args.num_train,
        num_val=args.num_val,
        size=args.size,
        seed=args.seed)
    print(f'\nwrote {len(ids["train"])} train and {len(ids["val"])} val '
          f'images to {args.out}')


if __name__ == '__main__':
    main()
