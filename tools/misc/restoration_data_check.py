"""Check a restoration set listed by ``meta.jsonl``: near-duplicates across
splits (pHash), scenes in several splits, misaligned pairs (phase
correlation), and estimated against recorded severity.

Writes the report as JSON (what each part holds:
``featsel/datasets/restoration/data_check.py``) and prints a summary.
``--write-deduped`` also writes a copy of the meta file without the pairs
whose clean image nearly duplicates one in a higher-priority split (test >
val > train).

Example::

    python tools/misc/restoration_data_check.py \\
        data/demo_restoration/meta.jsonl
    python tools/misc/restoration_data_check.py data/SOTS/meta.jsonl \\
        --out work_dirs/sots_check.json --max-shift 0.5 \\
        --write-deduped data/SOTS/meta_dedup.jsonl
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

# Make ``featsel`` importable when the repository is not installed.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from featsel.datasets.restoration.alignment import MAX_SHIFT_PX  # noqa: E402
from featsel.datasets.restoration.data_check import check_meta  # noqa: E402
from featsel.datasets.restoration.meta import (  # noqa: E402
    check_pair_files, read_meta, resolve_path, write_meta)
from featsel.datasets.restoration.phash import \
    NEAR_DUPLICATE_BITS  # noqa: E402
from featsel.utils import dump_json_atomic  # noqa: E402
from featsel.utils.cli import run_cli  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check a restoration set listed by meta.jsonl.')
    parser.add_argument('meta', help='the meta.jsonl file')
    parser.add_argument(
        '--img-root',
        help='folder relative image paths start at (default: the meta '
        'file\'s folder)')
    parser.add_argument(
        '--out', help='report file (default: <meta>_check.json beside it)')
    parser.add_argument(
        '--max-distance', type=int, default=NEAR_DUPLICATE_BITS,
        help='largest pHash distance (bits of 64) of near-duplicates '
        f'(default {NEAR_DUPLICATE_BITS})')
    parser.add_argument(
        '--max-shift', type=float, default=MAX_SHIFT_PX,
        help=f'largest shift (pixels) of an aligned pair (default '
        f'{MAX_SHIFT_PX})')
    parser.add_argument(
        '--write-deduped',
        help='also write the meta file without the dropped near-duplicates')
    return parser.parse_args(argv)


def write_deduped(records: List[dict], drop: List[str], root: str,
                  out: str) -> None:
    """The records not dropped, with image paths relative to ``out``'s
    folder."""
    out_dir = osp.dirname(osp.abspath(out))
    kept = []
    for record in records:
        if record['id'] in drop:
            continue
        record = dict(record)
        for field in ('path_raw', 'path_gt'):
            record[field] = osp.relpath(
                osp.abspath(resolve_path(root, record[field])), out_dir)
        kept.append(record)
    write_meta(out, kept)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    records = read_meta(args.meta)
    root = args.img_root or osp.dirname(args.meta)
    check_pair_files(records, root, args.meta)
    report = check_meta(records, root, args.max_distance, args.max_shift)
    report = dict(meta=args.meta, **report)
    out = args.out or osp.splitext(args.meta)[0] + '_check.json'
    dump_json_atomic(report, out)
    dup = report['duplicates']
    print(f'{report["num_pairs"]} pairs, {dup["unique_targets"]} clean '
          f'images')
    print(f'near-duplicates (<= {dup["max_distance"]} bits): '
          f'{len(dup["pairs"])}, across splits: {dup["cross_split"]}, '
          f'pairs to drop: {len(dup["drop"])}')
    print(f'scenes in several splits: {len(report["scene_leaks"])}')
    print(f'misaligned (> {args.max_shift} px) or size mismatch: '
          f'{report["alignment"]["num_flagged"]}')
    for kind, s in report['severity'].items():
        print(f'severity {kind}: {s["count"]} estimated in '
              f'[{s["est_min"]:.3f}, {s["est_max"]:.3f}], mean '
              f'{s["est_mean"]:.3f}, Spearman vs recorded {s["spearman"]}')
    if args.write_deduped:
        write_deduped(records, dup['drop'], root, args.write_deduped)
        print(f'wrote {len(records) - len(dup["drop"])} pairs to '
              f'{args.write_deduped}')
    print(f'report: {out}')


if __name__ == '__main__':
    run_cli(main)
