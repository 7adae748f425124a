"""Convert the camera labels of DAIR-V2X-C to COCO detection JSON.

Reads ``<ROOT>/<side>/data_info.json`` of each side (``vehicle-side``,
``infrastructure-side``), the image named by each frame's ``image_path`` and
its 2-D boxes in ``label_camera_std_path``, and writes
``instances_train.json`` and ``instances_val.json`` to ``--out-dir``.

The split never separates frames that show the same scene at nearly the
same moment: the two sides' views of one moment (the pairs of
``<ROOT>/cooperative/data_info.json``) and the frames of one recorded
sequence (the same ``batch_id``, or without one the same ``--window-s``
seconds of ``image_timestamp``) form one group, and whole groups go to
validation. ``--split-file`` uses the dataset's official split instead
(``cooperative-split-data.json``: ``{"vehicle_split": {"train": [frame
ids], "val": [...], "test": [...]}, "infrastructure_split": {...},
"cooperative_split": {...}}``; frames in no train/val list are left out).
Image
``file_name`` entries are relative to ROOT, so a config reads them with
``data_root=ROOT`` and ``data_prefix=dict(img='')``; with ``--out-dir
ROOT/annotations`` the ann_file is ``'annotations/instances_train.json'``.

Example::

    python tools/dataset_converters/dairv2x_to_coco.py \\
        data/DAIR-V2X/cooperative-vehicle-infrastructure \\
        --out-dir data/DAIR-V2X/cooperative-vehicle-infrastructure/annotations
    # three classes, vans, trucks and buses counted as cars
    python tools/dataset_converters/dairv2x_to_coco.py ROOT --out-dir OUT \\
        --classes Car Pedestrian Cyclist --merge Van=Car Truck=Car Bus=Car
    # the official split
    python tools/dataset_converters/dairv2x_to_coco.py ROOT --out-dir OUT \\
        --split-file data/split_datas/cooperative-split-data.json
"""
import argparse
import json
import os.path as osp
import sys
from collections import Counter
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

# Make ``featsel`` importable when the repository is not installed.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from featsel.utils.cli import run_cli  # noqa: E402
from featsel.utils import (ConfigError, DataError,  # noqa: E402
                           dump_json_atomic)

DEFAULT_SIDES = ('vehicle-side', 'infrastructure-side')
DEFAULT_CLASSES = ('Car', 'Truck', 'Van', 'Bus', 'Pedestrian', 'Cyclist',
                   'Tricyclist', 'Motorcyclist', 'Barrowlist', 'TrafficCone')
_BOX_KEYS = ('xmin', 'ymin', 'xmax', 'ymax')
# A box this thin (pixels, after clipping) is dropped.
_MIN_SIDE = 1.0


def read_json(path: str, what: str):
    """Load a JSON file; a missing or broken file raises :class:`DataError`
    naming it.

    Args:
        path (str): File to read.
        what (str): What the file is, for the message.
    """
    if not osp.isfile(path):
        raise DataError(f'{what} {path} does not exist')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f'{what} {path} is not valid JSON: {err}') from None


def image_size(entry: dict, path: str) -> Tuple[int, int]:
    """``(width, height)`` from the frame's data_info entry if it holds
    them, else from the image header (the pixels are not decoded).

    Args:
        entry (dict): The frame's entry of data_info.json.
        path (str): Image file.
    """
    for w_key, h_key in (('width', 'height'),
                         ('image_width', 'image_height')):
        if w_key in entry and h_key in entry:
            return int(entry[w_key]), int(entry[h_key])
    if not osp.isfile(path):
        raise DataError(f'image {path} does not exist')
    try:
        with Image.open(path) as img:
            return img.size
    except OSError as err:
        raise DataError(f'image {path} cannot be read: {err}') from None


def parse_box(obj: dict, label_path: str, index: int) -> List[float]:
    """``[xmin, ymin, xmax, ymax]`` of a label object; the coordinates may
    be numbers or numeric strings.

    Args:
        obj (dict): One object of a camera label file.
        label_path (str): The label file, for the message.
        index (int): Position of the object in the file.
    """
    try:
        box = obj['2d_box']
        return [float(box[key]) for key in _BOX_KEYS]
    except (KeyError, TypeError, ValueError):
        raise DataError(
            f'label {label_path}, object {index}: "2d_box" must hold numeric '
            f'{", ".join(_BOX_KEYS)}, got {obj.get("2d_box")!r}') from None


Frame = Tuple[str, str]  # (side, frame id)


def frame_id(path: str) -> str:
    """``'image/000123.jpg'`` -> ``'000123'``, the id the split file and the
    cooperative pairs use."""
    return osp.splitext(osp.basename(path))[0]


class _Groups:
    """Union-find over frames."""

    def __init__(self) -> None:
        self.parent: Dict[Frame, Frame] = {}

    def find(self, x: Frame) -> Frame:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Frame, b: Frame) -> None:
        self.parent[self.find(a)] = self.find(b)


def sequence_key(entry: dict, window_s: float, info_path: str,
                 index: int) -> Optional[Hashable]:
    """Which recorded sequence a frame belongs to: its ``batch_id`` if it
    has one, else the ``window_s``-second window of its
    ``image_timestamp``; None when it has neither."""
    if entry.get('batch_id') not in (None, ''):
        return 'batch', str(entry['batch_id'])
    if entry.get('image_timestamp') in (None, ''):
        return None
    try:
        stamp = float(entry['image_timestamp'])
    except (TypeError, ValueError):
        raise DataError(f'frame list {info_path}, entry {index}: '
                        f'image_timestamp {entry["image_timestamp"]!r} is not '
                        'a number') from None
    return 'window', int(stamp // window_s)


def read_pairs(root: str) -> List[Tuple[Frame, Frame]]:
    """The (vehicle, infrastructure) frame pairs of
    ``cooperative/data_info.json`` (empty when the file is absent)."""
    path = osp.join(root, 'cooperative', 'data_info.json')
    if not osp.isfile(path):
        return []
    pairs = read_json(path, 'cooperative frame list')
    if not isinstance(pairs, list):
        raise DataError(f'cooperative frame list {path} must be a JSON list')
    out = []
    for i, pair in enumerate(pairs):
        try:
            out.append((('vehicle-side', frame_id(pair['vehicle_image_path'])),
                        ('infrastructure-side',
                         frame_id(pair['infrastructure_image_path']))))
        except (KeyError, TypeError):
            raise DataError(f'cooperative frame list {path}, entry {i}: needs '
                            '"vehicle_image_path" and '
                            '"infrastructure_image_path"') from None
    return out


def group_split(frames: Dict[str, List[dict]], pairs: Sequence[Tuple[Frame,
                                                                     Frame]],
                val_ratio: float, seed: int, window_s: float,
                info_paths: Dict[str, str]) -> Dict[Frame, str]:
    """Train/val split by groups of frames that must stay together.

    Frames are joined when they belong to the same sequence of one side
    (:func:`sequence_key`) or form a cooperative pair (both sides' views of
    one moment). A permutation seeded by ``seed`` orders the groups
    (sorted first, so the result depends only on the data and the seed);
    groups go to validation in that order until it holds at least
    ``round(val_ratio * number of frames)`` frames.

    Args:
        frames (dict[str, list[dict]]): data_info entries per side.
        pairs (Sequence): Cooperative frame pairs.
        val_ratio (float): Target share of validation frames.
        seed (int): Seed of the permutation.
        window_s (float): Sequence window without ``batch_id``, seconds.
        info_paths (dict[str, str]): data_info.json per side, for messages.

    Returns:
        dict[Frame, str]: ``'train'`` or ``'val'`` per frame.
    """
    groups = _Groups()
    sequences: Dict[Tuple[str, Hashable], Frame] = {}
    for side, entries in frames.items():
        for index, entry in enumerate(entries):
            frame = (side, frame_id(entry['image_path']))
            groups.find(frame)
            key = sequence_key(entry, window_s, info_paths[side], index)
            if key is not None:
                first = sequences.setdefault((side, key), frame)
                groups.union(frame, first)
    for a, b in pairs:
        if a in groups.parent and b in groups.parent:
            groups.union(a, b)
    members: Dict[Frame, List[Frame]] = {}
    for frame in groups.parent:
        members.setdefault(groups.find(frame), []).append(frame)
    ordered = sorted(sorted(m) for m in members.values())
    order = np.random.default_rng(seed).permutation(len(ordered))
    target = int(round(len(groups.parent) * val_ratio))
    split: Dict[Frame, str] = {}
    num_val = 0
    for i in order:
        name = 'val' if num_val < target else 'train'
        num_val += len(ordered[i]) if name == 'val' else 0
        split.update((frame, name) for frame in ordered[i])
    return split


_SPLIT_KEYS = {'vehicle-side': 'vehicle_split',
               'infrastructure-side': 'infrastructure_split'}


def read_split_file(path: str, sides: Sequence[str],
                    pairs: Sequence[Tuple[Frame, Frame]]) -> Dict[Frame, str]:
    """The official DAIR-V2X split (``cooperative-split-data.json``).

    Each side takes its own list (``vehicle_split`` /
    ``infrastructure_split``, each ``{"train": [ids], "val": [ids], ...}``
    with frame ids such as ``"000123"``); a side without one follows
    ``cooperative_split`` (vehicle frame ids), the infrastructure side
    through the cooperative pairs. Lists other than train and val (test)
    are not converted.

    Returns:
        dict[Frame, str]: ``'train'`` or ``'val'`` per listed frame.
    """
    data = read_json(path, 'split file')
    if not isinstance(data, dict):
        raise DataError(f'split file {path} must be a JSON object')

    def lists(key: str) -> Dict[str, List[str]]:
        table = data[key]
        if not isinstance(table, dict):
            raise DataError(f'split file {path}: "{key}" must map split '
                            'names to lists of frame ids')
        return {name: [str(i) for i in table.get(name, [])]
                for name in ('train', 'val')}

    split: Dict[Frame, str] = {}
    coop = lists('cooperative_split') if 'cooperative_split' in data else None
    for side in sides:
        key = _SPLIT_KEYS.get(side)
        if key in data:
            for name, ids in lists(key).items():
                split.update(((side, i), name) for i in ids)
        elif coop is not None:
            partner = {v[1]: i[1] for v, i in pairs}
            for name, ids in coop.items():
                for i in ids:
                    if side == 'vehicle-side':
                        split[(side, i)] = name
                    elif i in partner:
                        split[(side, partner[i])] = name
        else:
            raise DataError(f'split file {path} has no "{key}" and no '
                            f'"cooperative_split" for {side}')
    return split


def _class_lookup(classes: Sequence[str],
                  merge: Optional[Dict[str, str]]) -> Dict[str, str]:
    """Map lower-case label types to class names."""
    if not classes:
        raise ConfigError('--classes: give at least one class')
    lowered = [c.lower() for c in classes]
    dups = sorted({c for c in classes if lowered.count(c.lower()) > 1})
    if dups:
        raise ConfigError(f'--classes: {dups} appear more than once')
    lookup = {c.lower(): c for c in classes}
    for src, dst in (merge or {}).items():
        if dst.lower() not in lookup:
            raise ConfigError(f'--merge {src}={dst}: {dst} is not in the '
                              f'class list {list(classes)}')
        lookup[src.lower()] = lookup[dst.lower()]
    return lookup


def convert_dairv2x(root: str,
                    sides: Sequence[str] = DEFAULT_SIDES,
                    classes: Sequence[str] = DEFAULT_CLASSES,
                    val_ratio: float = 0.2,
                    seed: int = 0,
                    merge: Optional[Dict[str, str]] = None,
                    split_file: Optional[str] = None,
                    window_s: float = 60.0) -> Dict[str, dict]:
    """Convert the camera labels of DAIR-V2X-C sides to COCO dicts.

    Label types match class names case-insensitively (``Trafficcone`` is
    ``TrafficCone``); types outside the class list (after ``merge``) are
    skipped. Boxes are clipped to the image; a box thinner than 1 pixel
    after clipping is dropped. Frames with an empty label list are kept as
    images without annotations. Image and annotation ids run from 1 over
    both splits, in side then data_info order.

    Args:
        root (str): The ``cooperative-vehicle-infrastructure`` folder.
        sides (Sequence[str]): Side folders under ``root`` to read.
        classes (Sequence[str]): Class names; category ids are ``1..N`` in
            this order.
        val_ratio (float): Share of the frames that goes to validation, in
            [0, 1), in whole groups (see :func:`group_split`).
        seed (int): Seed of the train/val split.
        merge (dict[str, str], optional): Label type -> class name, for
            types to count as another class (``{'Van': 'Car'}``).
        split_file (str, optional): The official split file; replaces
            ``val_ratio`` and ``seed`` (see :func:`read_split_file`).
        window_s (float): Length of a sequence, in seconds of
            ``image_timestamp``, for frames without ``batch_id``.

    Returns:
        dict[str, dict]: ``'train'`` and ``'val'`` COCO dicts, and
        ``'report'``: ``images`` (per split), ``left_out`` (frames in no
        train/val list of the split file), ``boxes`` (per class),
        ``skipped_types`` (per unknown type), ``degenerate`` and ``clipped``
        (counts).

    Raises:
        DataError: For a missing folder or file, or a file that is not valid
            JSON or lacks a needed key; the message names it.
        ConfigError: For a bad class list, merge or ratio.
    """
    if not 0 <= val_ratio < 1:
        raise ConfigError(f'--val-ratio must be in [0, 1), got {val_ratio}')
    if window_s <= 0:
        raise ConfigError(f'--window-s must be > 0, got {window_s}')
    if not osp.isdir(root):
        raise DataError(f'DAIR-V2X root {root} does not exist')
    lookup = _class_lookup(classes, merge)
    cat_ids = {name: i + 1 for i, name in enumerate(classes)}
    categories = [dict(id=cat_ids[name], name=name) for name in classes]
    out = {split: dict(images=[], annotations=[], categories=categories)
           for split in ('train', 'val')}
    boxes: Counter = Counter({name: 0 for name in classes})
    skipped: Counter = Counter()
    degenerate = clipped = 0
    frames: Dict[str, List[dict]] = {}
    info_paths: Dict[str, str] = {}
    for side in sides:
        side_root = osp.join(root, side)
        if not osp.isdir(side_root):
            raise DataError(f'side folder {side_root} does not exist')
        info_path = osp.join(side_root, 'data_info.json')
        entries = read_json(info_path, 'frame list')
        if not isinstance(entries, list):
            raise DataError(f'frame list {info_path} must be a JSON list')
        for i, entry in enumerate(entries):
            missing = [key for key in ('image_path', 'label_camera_std_path')
                       if key not in entry]
            if missing:
                raise DataError(f'frame list {info_path}, entry {i}: no '
                                f'"{missing[0]}"')
        frames[side], info_paths[side] = entries, info_path
    pairs = read_pairs(root)
    if split_file:
        split_of = read_split_file(split_file, sides, pairs)
    else:
        split_of = group_split(frames, pairs, val_ratio, seed, window_s,
                               info_paths)
    left_out = 0
    img_id = ann_id = 1
    for side in sides:
        side_root = osp.join(root, side)
        for entry in frames[side]:
            split = split_of.get((side, frame_id(entry['image_path'])))
            if split is None:
                left_out += 1
                continue
            img_path = osp.join(side_root, entry['image_path'])
            width, height = image_size(entry, img_path)
            label_path = osp.join(side_root, entry['label_camera_std_path'])
            objects = read_json(label_path, 'label')
            if not isinstance(objects, list):
                raise DataError(f'label {label_path} must be a JSON list')
            out[split]['images'].append(dict(
                id=img_id, file_name=osp.relpath(img_path, root),
                width=width, height=height))
            for index, obj in enumerate(objects):
                name = lookup.get(str(obj.get('type', '')).lower())
                if name is None:
                    skipped[str(obj.get('type'))] += 1
                    continue
                x0, y0, x1, y1 = parse_box(obj, label_path, index)
                cx0, cx1 = min(max(x0, 0), width), min(max(x1, 0), width)
                cy0, cy1 = min(max(y0, 0), height), min(max(y1, 0), height)
                if cx1 - cx0 <= _MIN_SIDE or cy1 - cy0 <= _MIN_SIDE:
                    degenerate += 1
                    continue
                clipped += (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1)
                w, h = round(cx1 - cx0, 2), round(cy1 - cy0, 2)
                out[split]['annotations'].append(dict(
                    id=ann_id, image_id=img_id, category_id=cat_ids[name],
                    bbox=[round(cx0, 2), round(cy0, 2), w, h],
                    area=round(w * h, 2), iscrowd=0))
                boxes[name] += 1
                ann_id += 1
            img_id += 1
    out['report'] = dict(
        images={split: len(out[split]['images']) for split in ('train',
                                                               'val')},
        left_out=left_out,
        boxes=dict(boxes), skipped_types=dict(sorted(skipped.items())),
        degenerate=degenerate, clipped=clipped)
    return out


def format_report(report: dict) -> str:
    """The conversion summary as printed by the tool."""
    lines = [f'images: {report["images"]["train"]} train, '
             f'{report["images"]["val"]} val, {report["left_out"]} left out '
             '(in no train/val list)',
             'boxes per class:']
    lines += [f'  {name:<14} {num}' for name, num in report['boxes'].items()]
    skipped = ', '.join(f'{t} {n}' for t, n in report['skipped_types'].items())
    lines.append(f'skipped (type not in the class list): {skipped or "none"}')
    lines.append(f'dropped (thinner than 1 px after clipping): '
                 f'{report["degenerate"]}')
    lines.append(f'clipped to the image: {report["clipped"]}')
    return '\n'.join(lines)


def _parse_merge(items: Optional[List[str]]) -> Dict[str, str]:
    merge = {}
    for item in items or []:
        src, sep, dst = item.partition('=')
        if not sep or not src or not dst:
            raise ConfigError(f'--merge {item}: write TYPE=CLASS, e.g. '
                              'Van=Car')
        merge[src] = dst
    return merge


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert DAIR-V2X-C camera labels to COCO JSON.')
    parser.add_argument(
        'root', help='the cooperative-vehicle-infrastructure folder')
    parser.add_argument('--out-dir', required=True,
                        help='folder for instances_{train,val}.json')
    parser.add_argument('--sides', nargs='+', default=list(DEFAULT_SIDES),
                        help='side folders to read')
    parser.add_argument('--classes', nargs='+', default=list(DEFAULT_CLASSES),
                        help='class names; category ids 1..N in this order')
    parser.add_argument('--merge', nargs='+', metavar='TYPE=CLASS',
                        help='count a label type as a class, e.g. Van=Car')
    parser.add_argument('--val-ratio', type=float, default=0.2,
                        help='share of the frames for validation (whole '
                        'sequences and cooperative pairs)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the train/val split')
    parser.add_argument('--window-s', type=float, default=60.0,
                        help='sequence length in seconds for frames '
                        'without batch_id')
    parser.add_argument('--split-file',
                        help='official split (cooperative-split-data.json);'
                        ' replaces --val-ratio and --seed')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    result = convert_dairv2x(
        args.root, sides=args.sides, classes=args.classes,
        val_ratio=args.val_ratio, seed=args.seed,
        merge=_parse_merge(args.merge), split_file=args.split_file,
        window_s=args.window_s)
    for split in ('train', 'val'):
        path = osp.join(args.out_dir, f'instances_{split}.json')
        dump_json_atomic(result[split], path)
        print(f'wrote {path}')
    print(format_report(result['report']))


if __name__ == '__main__':
    run_cli(main)
