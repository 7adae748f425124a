"""Write the synthetic lesion segmentation demo set.

``DemoLesionSegDataset`` (the S1 configs' data set) writes it on first use
at its default root; this tool writes it anywhere, with other sizes.

Example::

    python tools/misc/make_demo_data.py    # writes data/demo_lesions
    python tools/misc/make_demo_data.py --out data/tiny --num-train 16
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

# Make ``featsel`` importable when the repository is not installed.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from featsel.datasets.demo_data import write_demo_set  # noqa: E402
from featsel.datasets.demo_lesions import DEMO_LESIONS  # noqa: E402
from featsel.utils.cli import run_cli  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the synthetic lesion segmentation demo set.')
    parser.add_argument(
        '--out', default=DEMO_LESIONS.default_root.rstrip('/'),
        help='output directory')
    parser.add_argument('--num-train', type=int, default=240)
    parser.add_argument('--num-val', type=int, default=60)
    parser.add_argument('--size', type=int, default=128, help='image side')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace a demo set already under --out')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if DEMO_LESIONS.present(args.out) and not args.force:
        print(f'{args.out} already holds a demo set; pass --force to '
              'write it again.')
        return
    write_demo_set(
        DEMO_LESIONS,
        args.out,
        overwrite=args.force,
        num_train=args.num_train,
        num_val=args.num_val,
        size=args.size,
        seed=args.seed)
    print(f'\nwrote {args.num_train} train and {args.num_val} val images to '
          f'{args.out}')


if __name__ == '__main__':
    run_cli(main)
