"""Find (degraded, clean) pairs in the usual public folder layouts and
turn them into ``meta.jsonl`` records with scene-based splits.

Layouts (``root`` is the folder given to the converter):

* ``folder_pairs``: ``root/<lq_dir>/**/<name>`` and ``root/<gt_dir>/**/
  <name>`` with the same relative path (the extension may differ). Covers
  Restormer-style ``input/``/``target/``, ``hazy/``/``clear/``,
  ``rain/``/``norain/`` folders. The scene is the file stem, or the first
  group of ``scene_regex`` matched on it.
* ``reside_sots``: RESIDE SOTS, every folder under ``root`` (``root``
  itself, ``indoor/``, ``outdoor/``) that holds ``hazy/`` and ``gt/`` (or
  ``clear/``). A hazy image ``<scene>_<rest>`` (indoor ``1400_1.png`` …
  ``1400_10.png``, outdoor ``0001_0.8_0.2.jpg``: airlight 0.8, β 0.2)
  pairs with the clean ``<scene>.<ext>``; all hazy versions of a scene
  share it and its split. Data set name ``SOTS-<folder>`` (``SOTS-indoor``,
  ``SOTS-outdoor``).
* ``rain100``: Rain100L/H in their published variants: ``rain-<n>`` with
  ``norain-<n>`` in one folder; degraded images in ``rainy/`` next to
  clean ``norain-<n>`` files; or ``rain/norain-<n>`` with
  ``norain/norain-<n>`` (both named ``norain``). Files pair by number
  (``001`` = ``1``) within the same parent (``train/``, ``test/``, …);
  each number is a scene.
* ``snow100k``: Snow100K, every ``synthetic/`` folder with a ``gt/``
  sibling (``Snow100K-training/all``, ``Snow100K-testset/…/Snow100K-S``,
  ``-M``, ``-L``); pairs by file stem; the ``mask/`` folder is not used.
  Data set name ``Snow100K-S``/``-M``/``-L`` for the test subsets, else
  ``Snow100K``.

Ids are ``<dataset>_<key>`` with the key built from the degraded file's
name (no ``/``), scenes ``<dataset>/<scene>``. :func:`scene_splits` puts
whole scenes into train/val/test.
"""
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image

from featsel.utils import ConfigError, DataError
from .phash import phash_hex
from .severity import SEVERITY_ESTIMATORS

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
_RAIN = re.compile(r'^rain-0*(\d+)$')
_NORAIN = re.compile(r'^norain-0*(\d+)$')
# folders that only say which side of a pair a file is on
_SIDE_FOLDERS = ('rain', 'rainy', 'norain', 'input', 'target', 'gt', 'lq')
_LQ_FOLDERS = ('rain', 'rainy', 'input', 'lq')


@dataclass
class Pair:
    """One pair found in a layout (absolute paths)."""

    raw: str
    gt: str
    key: str
    scene: str
    dataset: str
    degradation: str


@dataclass
class Found:
    """Pairs of a layout and the degraded images left without a target."""

    pairs: List[Pair]
    unpaired: List[str]


def list_images(folder: str) -> List[str]:
    """Image files under ``folder`` (recursive), relative, sorted."""
    found = []
    for parent, _, files in os.walk(folder):
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(osp.relpath(osp.join(parent, name), folder))
    return sorted(found)


def _stem(path: str) -> str:
    return osp.splitext(path)[0]


def _by_stem(folder: str) -> Dict[str, str]:
    """Relative path without extension -> absolute path."""
    return {_stem(p): osp.join(folder, p) for p in list_images(folder)}


def _require_dir(path: str, what: str) -> None:
    if not osp.isdir(path):
        raise DataError(f'{what} "{path}" does not exist')


def folder_pairs(root: str, degradation: str, dataset: str,
                 lq_dir: str = 'lq', gt_dir: str = 'gt',
                 scene_regex: Optional[str] = None) -> Found:
    """Pairs of ``root/<lq_dir>`` and ``root/<gt_dir>`` with the same
    relative path (any image extension).

    Args:
        root (str): Folder holding the two folders.
        degradation (str): Degradation of every pair.
        dataset (str): Data set name.
        lq_dir (str): Folder of the degraded images. Defaults to 'lq'.
        gt_dir (str): Folder of the targets. Defaults to 'gt'.
        scene_regex (str, optional): Regular expression searched in the
            file stem; its first group is the scene. Defaults to None (the
            stem is the scene).
    """
    lq_root, gt_root = osp.join(root, lq_dir), osp.join(root, gt_dir)
    _require_dir(lq_root, 'degraded image folder (--lq-dir)')
    _require_dir(gt_root, 'target folder (--gt-dir)')
    pattern = re.compile(scene_regex) if scene_regex else None
    if pattern is not None and pattern.groups < 1:
        raise ConfigError(f'scene regex "{scene_regex}" has no group; mark '
                          'the scene part with (...)')
    targets = _by_stem(gt_root)
    found = Found([], [])
    for stem, raw in _by_stem(lq_root).items():
        if stem not in targets:
            found.unpaired.append(raw)
            continue
        scene = stem
        if pattern is not None:
            match = pattern.search(osp.basename(stem))
            if not match:
                raise DataError(f'scene regex "{scene_regex}" does not '
                                f'match "{raw}"')
            scene = match.group(1)
        found.pairs.append(
            Pair(raw, targets[stem], stem.replace(os.sep, '_'),
                 f'{dataset}/{scene}', dataset, degradation))
    return found


def reside_sots(root: str, dataset: str = 'SOTS') -> Found:
    """Pairs of the RESIDE SOTS layout (see the module docstring)."""
    found = Found([], [])
    folders = []
    for parent, dirs, _ in os.walk(root):
        gt_name = 'gt' if 'gt' in dirs else 'clear' if 'clear' in dirs else ''
        if 'hazy' in dirs and gt_name:
            folders.append((parent, gt_name))
    if not folders:
        raise DataError(f'no folder under "{root}" holds hazy/ and gt/ (or '
                        'clear/), as RESIDE SOTS does')
    for parent, gt_name in folders:
        name = dataset if parent == root else (
            f'{dataset}-{osp.basename(parent)}')
        targets = {osp.basename(stem): path for stem, path in
                   _by_stem(osp.join(parent, gt_name)).items()}
        for stem, raw in _by_stem(osp.join(parent, 'hazy')).items():
            scene = osp.basename(stem).split('_')[0]
            if scene not in targets:
                found.unpaired.append(raw)
                continue
            found.pairs.append(
                Pair(raw, targets[scene], stem.replace(os.sep, '_'),
                     f'{name}/{scene}', name, 'haze'))
    return found


def rain100(root: str, dataset: str = 'Rain100') -> Found:
    """Pairs of the Rain100L/H layouts (see the module docstring)."""
    degraded: Dict[Tuple[str, int], str] = {}
    clean: Dict[Tuple[str, int], str] = {}
    for rel in list_images(root):
        folder, name = osp.split(_stem(rel))
        side = osp.basename(folder).lower()
        group = osp.dirname(folder) if side in _SIDE_FOLDERS else folder
        rain, norain = _RAIN.match(name), _NORAIN.match(name)
        if rain:
            degraded[(group, int(rain.group(1)))] = osp.join(root, rel)
        elif norain and side in _LQ_FOLDERS:
            degraded[(group, int(norain.group(1)))] = osp.join(root, rel)
        elif norain:
            clean[(group, int(norain.group(1)))] = osp.join(root, rel)
    found = Found([], [])
    for (group, number), raw in sorted(degraded.items()):
        if (group, number) not in clean:
            found.unpaired.append(raw)
            continue
        where = f'{group}/{number}' if group else str(number)
        found.pairs.append(
            Pair(raw, clean[(group, number)], where.replace(os.sep, '_')
                 .replace('/', '_'), f'{dataset}/{where}', dataset, 'rain'))
    return found


def snow100k(root: str, dataset: str = 'Snow100K') -> Found:
    """Pairs of the Snow100K layout (see the module docstring)."""
    found = Found([], [])
    folders = [parent for parent, dirs, _ in os.walk(root)
               if 'synthetic' in dirs and 'gt' in dirs]
    if not folders:
        raise DataError(f'no folder under "{root}" holds synthetic/ and gt/, '
                        'as Snow100K does')
    for parent in folders:
        subset = osp.basename(parent)
        name = subset if subset.startswith('Snow100K-') else dataset
        targets = _by_stem(osp.join(parent, 'gt'))
        for stem, raw in _by_stem(osp.join(parent, 'synthetic')).items():
            if stem not in targets:
                found.unpaired.append(raw)
                continue
            key = f'{subset}_{stem}'.replace(os.sep, '_')
            found.pairs.append(
                Pair(raw, targets[stem], key, f'{name}/{stem}', name,
                     'snow'))
    return found


#: Layout name -> finder of its pairs.
LAYOUTS: Dict[str, Callable[..., Found]] = dict(
    folder_pairs=folder_pairs, reside_sots=reside_sots, rain100=rain100,
    snow100k=snow100k)


def scene_splits(scenes: Sequence[str], val_fraction: float,
                 test_fraction: float, seed: int = 0) -> Dict[str, str]:
    """Put whole scenes into train/val/test.

    The distinct scenes, sorted, are shuffled with ``seed``; the first
    ``round(test_fraction · n)`` go to test, the next
    ``round(val_fraction · n)`` to val, the rest to train.

    Args:
        scenes (Sequence[str]): Scene of each pair (repeats allowed).
        val_fraction (float): Fraction of scenes in val.
        test_fraction (float): Fraction of scenes in test.
        seed (int): Seed of the shuffle. Defaults to 0.

    Returns:
        dict[str, str]: Split of each distinct scene.

    Raises:
        ConfigError: If the fractions are negative or sum above 1.
    """
    if min(val_fraction, test_fraction) < 0 or \
            val_fraction + test_fraction > 1:
        raise ConfigError(
            f'val and test fractions must be >= 0 and sum to at most 1, '
            f'got {val_fraction} and {test_fraction}')
    unique = sorted(set(scenes))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test = int(round(test_fraction * len(unique)))
    n_val = int(round(val_fraction * len(unique)))
    splits = {}
    for rank, idx in enumerate(order):
        splits[unique[idx]] = ('test' if rank < n_test else
                               'val' if rank < n_test + n_val else 'train')
    return splits


def read_rgb(path: str) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB.

    Raises:
        DataError: If the file cannot be read as an image, naming it.
    """
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataError(f'cannot read image "{path}": missing, empty, '
                        'truncated or not an image')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _size(path: str) -> Tuple[int, int]:
    """``(w, h)`` from the image header."""
    try:
        with Image.open(path) as img:
            return img.size
    except OSError as err:
        raise DataError(f'cannot read image "{path}": {err}') from None


def pair_records(pairs: Sequence[Pair], meta_dir: str,
                 splits: Dict[str, str], crop_border: int = 0,
                 quality: bool = True) -> List[dict]:
    """``meta.jsonl`` records of pairs.

    Image paths become relative to ``meta_dir`` (the meta file's folder).
    ``w`` and ``h`` come from the image header; with ``quality`` the clean
    image's pHash and the degraded image's estimated severity
    (:data:`~.severity.SEVERITY_ESTIMATORS`) are filled in, which decodes
    both images, else they are null. ``capture_id`` is the scene.

    Args:
        pairs (Sequence[Pair]): Pairs of a layout.
        meta_dir (str): Folder of the meta file.
        splits (dict[str, str]): Split of each scene.
        crop_border (int): ``crop_border`` of every record. Defaults to 0.
        quality (bool): Compute ``hash`` and ``severity``. Defaults to True.

    Returns:
        list[dict]: One record per pair, in the order of ``pairs``.

    Raises:
        DataError: If two pairs get the same id, or an image cannot be
            read.
    """
    records, seen = [], {}
    hashes: Dict[str, str] = {}
    bar = ProgressBar(len(pairs)) if quality and pairs else None
    for pair in pairs:
        pair_id = f'{pair.dataset}_{pair.key}'
        if pair_id in seen:
            raise DataError(f'"{pair.raw}" and "{seen[pair_id]}" both get '
                            f'the id "{pair_id}"')
        seen[pair_id] = pair.raw
        w, h = _size(pair.raw)
        severity = gt_hash = None
        if quality:
            if pair.gt not in hashes:
                hashes[pair.gt] = phash_hex(read_rgb(pair.gt))
            gt_hash = hashes[pair.gt]
            estimate = SEVERITY_ESTIMATORS.get(pair.degradation)
            if estimate is not None:
                severity = round(estimate(read_rgb(pair.raw)), 4)
            bar.update()
        records.append(
            dict(id=pair_id, dataset=pair.dataset, scene_id=pair.scene,
                 split=splits[pair.scene],
                 path_raw=osp.relpath(pair.raw, meta_dir),
                 path_gt=osp.relpath(pair.gt, meta_dir), w=w, h=h,
                 degradation=pair.degradation, severity=severity,
                 capture_id=pair.scene, hash=gt_hash, tile_cfg=None,
                 crop_border=crop_border))
    return records
