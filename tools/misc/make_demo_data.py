"""Write a synthetic demo set: the lesion segmentation set (default), the
RGB / NIR / TIR person re-identification set (``--set rgbnt201``) or the
haze / rain / snow restoration pairs (``--set restoration``).

``DemoLesionSegDataset`` (the S1 configs' data set), ``RGBNT201Dataset`` and
``DemoRestorationDataset`` write theirs on first use at the default root;
this tool writes them anywhere, with other sizes.

Example::

    python tools/misc/make_demo_data.py    # writes data/demo_lesions
    python tools/misc/make_demo_data.py --out data/tiny --num-train 16
    python tools/misc/make_demo_data.py --set rgbnt201   # data/demo_rgbnt201
    python tools/misc/make_demo_data.py --set restoration
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

# Make ``featsel`` importable when the repository is not installed.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from featsel.datasets.demo_data import write_demo_set  # noqa: E402
from featsel.datasets.demo_lesions import DEMO_LESIONS  # noqa: E402
from featsel.datasets.reid.demo_rgbnt201 import DEMO_RGBNT201  # noqa: E402
from featsel.datasets.restoration.demo import DEMO_RESTORATION  # noqa: E402
from featsel.utils.cli import run_cli  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a synthetic demo set.')
    parser.add_argument(
        '--set', default='lesions',
        choices=('lesions', 'rgbnt201', 'restoration'),
        help='lesions: the segmentation set; rgbnt201: the RGB/NIR/TIR '
        're-identification set; restoration: the haze/rain/snow pairs')
    parser.add_argument(
        '--out', default=None,
        help='output directory (default: the set\'s default root)')
    parser.add_argument('--num-train', type=int, default=240,
                        help='lesions: training images')
    parser.add_argument('--num-val', type=int, default=60,
                        help='lesions: validation images')
    parser.add_argument('--size', type=int, default=128,
                        help='lesions, restoration: image side')
    parser.add_argument('--num-train-ids', type=int, default=40,
                        help='rgbnt201: training identities')
    parser.add_argument('--num-test-ids', type=int, default=24,
                        help='rgbnt201: test identities')
    parser.add_argument('--num-cameras', type=int, default=3,
                        help='rgbnt201: cameras')
    parser.add_argument('--images-per-camera', type=int, default=3,
                        help='rgbnt201: images per identity and camera')
    parser.add_argument('--num-scenes', type=int, default=36,
                        help='restoration: clean scenes')
    parser.add_argument('--variants', type=int, default=2,
                        help='restoration: degraded copies per scene and '
                        'task')
    parser.add_argument('--no-large', action='store_true',
                        help='restoration: leave out the 3840x2160 scene')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace a demo set already under --out')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.set == 'rgbnt201':
        spec, done = DEMO_RGBNT201, (
            f'{args.num_train_ids} train and {args.num_test_ids} test '
            'identities')
        options = dict(
            num_train_ids=args.num_train_ids,
            num_test_ids=args.num_test_ids,
            num_cameras=args.num_cameras,
            images_per_camera=args.images_per_camera)
    elif args.set == 'restoration':
        spec, done = DEMO_RESTORATION, (
            f'{args.num_scenes} scenes x {args.variants} variants x 3 tasks')
        options = dict(
            num_scenes=args.num_scenes, variants=args.variants,
            size=args.size)
        if args.no_large:
            options['large_size'] = None
    else:
        spec, done = DEMO_LESIONS, (
            f'{args.num_train} train and {args.num_val} val images')
        options = dict(
            num_train=args.num_train, num_val=args.num_val, size=args.size)
    out = args.out or spec.default_root.rstrip('/')
    if spec.present(out) and not args.force:
        print(f'{out} already holds a demo set; pass --force to '
              'write it again.')
        return
    write_demo_set(spec, out, overwrite=args.force, seed=args.seed,
                   **options)
    print(f'\nwrote {done} to {out}')


if __name__ == '__main__':
    run_cli(main)
