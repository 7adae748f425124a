"""A seeded synthetic restoration set: procedural clean scenes degraded by
haze, rain and snow, with ``meta.jsonl``.

Each clean scene (:mod:`.scenes`: sky, textured ground, buildings and
trees, with a depth map) is degraded ``variants`` times by each of haze,
rain and snow (:mod:`.degradations`), each time with its own severity drawn
uniformly from [0.2, 1]; the severity is written to ``meta.jsonl``
exactly as used. Scenes are split into train/val/test (70/15/15 %, at
least one scene in each), so the three tasks and all variants of a scene
stay in one split. One more scene is drawn at ``large_size`` (3840×2160 by
default) with all three degradations, saved as JPEG (quality 85), for the
tiled-inference demo; its split is ``'4k'`` and its ``tile_cfg`` is
``{"tile": 512, "overlap": 64, "blend": "hann"}``. Its degraded images are
made from the decoded clean JPEG, so the clean file is exactly the target.

Every image is drawn from its own random stream (``(seed, scene)`` for a
scene, ``(seed, scene, task, variant)`` for a degradation), so the same
arguments give byte-identical files.

Layout written under ``root``::

    gt/scene_<s>.png                    clean scenes, (size, size, 3)
    lq/<haze|rain|snow>/scene_<s>_<v>.png
    large/gt.jpg, large/<haze|rain|snow>.jpg
    meta.jsonl                          written last (marks a complete set)
"""
import os
import os.path as osp
from typing import Callable, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..demo_data import DemoSet
from .degradations import add_haze, add_rain, add_snow
from .meta import write_meta
from .phash import phash_hex
from .scenes import make_scene

DEMO_DATASET = 'demo_restoration'
#: Range of the severities drawn for the demo pairs.
SEVERITY_RANGE = (0.2, 1.0)
#: Fractions of the scenes in val and test (the rest is train).
VAL_FRACTION = TEST_FRACTION = 0.15
LARGE_TILE_CFG = dict(tile=512, overlap=64, blend='hann')
_JPEG_QUALITY = 85
# PNG files within 2 % of the smallest, written 7x faster than at level 9
_PNG_COMPRESSION = (cv2.IMWRITE_PNG_COMPRESSION, 5)
# a stream id no scene index reaches
_LARGE_SCENE = 2**31 - 1


def _degraders() -> Dict[str, Callable]:
    """Degradation name -> ``f(img, depth, severity, rng)``."""
    return dict(
        haze=add_haze,
        rain=lambda img, depth, s, rng: add_rain(img, s, rng),
        snow=lambda img, depth, s, rng: add_snow(img, s, rng))


def scene_splits(num_scenes: int, seed: int) -> Dict[int, str]:
    """Split scene indices into train/val/test by a seeded permutation.

    Args:
        num_scenes (int): Number of scenes, at least 3.
        seed (int): Seed of the permutation.

    Returns:
        dict[int, str]: Split of each scene.
    """
    order = np.random.default_rng([seed, 0]).permutation(num_scenes)
    n_val = max(1, int(round(VAL_FRACTION * num_scenes)))
    n_test = max(1, int(round(TEST_FRACTION * num_scenes)))
    splits = {}
    for rank, scene in enumerate(order):
        splits[int(scene)] = ('test' if rank < n_test else
                              'val' if rank < n_test + n_val else 'train')
    return splits


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def _write(path: str, rgb: np.ndarray, params: Sequence[int] = ()) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                       list(params)):
        raise OSError(f'cannot write "{path}"')


def _record(root: str, pair_id: str, scene: str, split: str, raw: str,
            gt: str, degradation: str, severity: float,
            size: Tuple[int, int], gt_hash: str,
            tile_cfg: Optional[dict] = None) -> dict:
    return dict(id=pair_id, dataset=DEMO_DATASET, scene_id=scene,
                split=split, path_raw=osp.relpath(raw, root),
                path_gt=osp.relpath(gt, root), w=size[1], h=size[0],
                degradation=degradation, severity=severity,
                capture_id=scene, hash=gt_hash, tile_cfg=tile_cfg,
                crop_border=0)


def _severity(rng: np.random.Generator) -> float:
    return round(float(rng.uniform(*SEVERITY_RANGE)), 3)


def make_demo_restoration(
        root: str,
        num_scenes: int = 36,
        variants: int = 2,
        size: int = 128,
        seed: int = 0,
        large_size: Optional[Tuple[int, int]] = (3840, 2160)) -> dict:
    """Write the demo restoration set under ``root`` (see the module
    docstring for the layout).

    Args:
        root (str): Output folder (created if missing).
        num_scenes (int): Clean scenes, at least 3. Defaults to 36.
        variants (int): Degraded copies per scene and task. Defaults to 2
            (72 pairs per task).
        size (int): Side of the small images, at least 32. Defaults to 128.
        seed (int): Random seed. Defaults to 0.
        large_size (tuple[int, int], optional): ``(width, height)`` of the
            large scene; None writes none. Defaults to (3840, 2160).

    Returns:
        dict: Number of pairs per split.

    Raises:
        ValueError: If ``num_scenes < 3``, ``variants < 1`` or
            ``size < 32``.
    """
    if num_scenes < 3 or variants < 1 or size < 32:
        raise ValueError(
            'the demo restoration set needs num_scenes >= 3, variants >= 1 '
            f'and size >= 32; got {num_scenes}, {variants} and {size}')
    degraders = _degraders()
    splits = scene_splits(num_scenes, seed)
    records = []
    for scene in range(num_scenes):
        clean, depth = make_scene(np.random.default_rng([seed, scene]), size,
                                  size)
        gt = _to_uint8(clean)
        name = f'scene_{scene:03d}'
        gt_path = osp.join(root, 'gt', name + '.png')
        _write(gt_path, gt, _PNG_COMPRESSION)
        gt_hash = phash_hex(gt)
        for task_idx, (degradation, degrade) in enumerate(degraders.items()):
            for variant in range(variants):
                rng = np.random.default_rng([seed, scene, task_idx, variant])
                severity = _severity(rng)
                lq = _to_uint8(degrade(gt / np.float32(255), depth,
                                       severity, rng))
                raw = osp.join(root, 'lq', degradation,
                               f'{name}_{variant}.png')
                _write(raw, lq, _PNG_COMPRESSION)
                records.append(
                    _record(root, f'{degradation}_{scene:03d}_{variant}',
                            name, splits[scene], raw, gt_path, degradation,
                            severity, gt.shape[:2], gt_hash))
    if large_size is not None:
        records += _write_large(root, large_size, seed, degraders)
    write_meta(osp.join(root, 'meta.jsonl'), records)
    counts: dict = {}
    for record in records:
        counts[record['split']] = counts.get(record['split'], 0) + 1
    return counts


def _write_large(root: str, large_size: Tuple[int, int], seed: int,
                 degraders: Dict[str, Callable]) -> list:
    """The large scene and its three degraded JPEGs; their records."""
    width, height = large_size
    quality = (cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY)
    clean, depth = make_scene(np.random.default_rng([seed, _LARGE_SCENE]),
                              height, width)
    gt_path = osp.join(root, 'large', 'gt.jpg')
    _write(gt_path, _to_uint8(clean), quality)
    gt = cv2.cvtColor(cv2.imread(gt_path), cv2.COLOR_BGR2RGB)
    gt_hash = phash_hex(gt)
    records = []
    for task_idx, (degradation, degrade) in enumerate(degraders.items()):
        rng = np.random.default_rng([seed, _LARGE_SCENE, task_idx])
        severity = _severity(rng)
        raw = osp.join(root, 'large', degradation + '.jpg')
        _write(raw, _to_uint8(degrade(gt / np.float32(255), depth, severity,
                                      rng)), quality)
        records.append(
            _record(root, f'{degradation}_4k', 'scene_4k', '4k', raw,
                    gt_path, degradation, severity, gt.shape[:2], gt_hash,
                    tile_cfg=dict(LARGE_TILE_CFG)))
    return records


#: The demo restoration set for :mod:`featsel.datasets.demo_data`.
DEMO_RESTORATION = DemoSet(
    name='demo restoration set',
    default_root='data/demo_restoration/',
    sentinel='meta.jsonl',
    build=make_demo_restoration,
    options=('num_scenes', 'variants', 'size', 'seed', 'large_size'),
    command='python tools/misc/make_demo_data.py --set restoration '
    '--out {root}')
