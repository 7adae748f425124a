"""A seeded synthetic detection set of coloured shapes in COCO format.

Four classes of flat shapes, each with its own outline: filled squares
(slightly rotated), filled discs, filled triangles (any rotation) and rings
(hollow circles). Every object gets a random saturated colour, so the class
is told by the shape, not the colour. Objects are 10-45 % of the image side
(log-uniform, so small ones are common), may overlap (each keeps at least
60 % of its pixels visible), and lie on a textured grey background crossed by
thin coloured strokes that are not objects. About 5 % of the images hold no
object; the others hold one to six.

Category ids are deliberately not ``1..N`` (see :data:`DEMO_SHAPES_CATEGORIES`)
so that code mapping ids to label indices is exercised. Each image is drawn
from its own random stream ``(seed, split, index)``: the same arguments give
byte-identical files, and a split does not change when the size of the other
split does.

Layout written under ``root``::

    images/{train,val}/<split>_<index>.png   RGB uint8, (size, size, 3)
    annotations/instances_{train,val}.json   COCO detection annotations

A box ``[x, y, w, h]`` is tight around the visible pixels of its shape
(``x`` and ``y`` of the first pixel column and row, ``w`` and ``h`` in
pixels), and ``area`` is the number of visible pixels.
"""
import json
import os
import os.path as osp
from typing import List, Tuple

import cv2
import numpy as np
from .demo_data import DemoSet, ensure_demo_set, write_demo_set
from .demo_lesions import smooth_noise

SPLITS = ('train', 'val')

#: ``(category id, name)`` of every class, in id order.
DEMO_SHAPES_CATEGORIES: Tuple[Tuple[int, str], ...] = (
    (3, 'square'), (7, 'disc'), (11, 'triangle'), (20, 'ring'))
#: Class names in category-id order, as ``metainfo['classes']`` wants them.
DEMO_SHAPES_CLASSES: Tuple[str, ...] = tuple(
    name for _, name in DEMO_SHAPES_CATEGORIES)

# The file whose presence marks a complete set.
SENTINEL = osp.join('annotations', 'instances_val.json')

_P_EMPTY = 0.05
_MAX_OBJECTS = 6
# Object extent as a fraction of the image side (log-uniform in between).
_MIN_FRAC, _MAX_FRAC = 0.10, 0.45
# A placement is rejected if it leaves an earlier object less visible.
_MIN_VISIBLE = 0.6
_PLACEMENT_TRIES = 12


def shape_mask(rng: np.random.Generator, kind: str, size: int,
               center: Tuple[float, float], extent: float) -> np.ndarray:
    """Draw one shape as a hard mask.

    Args:
        rng (np.random.Generator): Random stream (rotation, ring width).
        kind (str): One of :data:`DEMO_SHAPES_CLASSES`.
        size (int): Side of the output mask.
        center (tuple[float, float]): Shape centre ``(x, y)`` in pixels.
        extent (float): Diameter of the circle around the shape in pixels.

    Returns:
        np.ndarray: (size, size) uint8 {0, 1}.
    """
    mask = np.zeros((size, size), np.uint8)
    cx, cy = center
    radius = extent / 2
    ctr = (int(round(cx)), int(round(cy)))
    if kind == 'square':
        # a rotation of at most 20 degrees keeps squares apart from
        # triangles and discs
        side = extent / np.sqrt(2)
        angle = rng.uniform(-20, 20)
        pts = cv2.boxPoints(((cx, cy), (side, side), angle))
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    elif kind == 'disc':
        cv2.circle(mask, ctr, int(round(radius)), 1, -1)
    elif kind == 'triangle':
        theta = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([cx + radius * np.cos(theta),
                        cy + radius * np.sin(theta)], axis=1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    elif kind == 'ring':
        cv2.circle(mask, ctr, int(round(radius)), 1, -1)
        inner = radius * rng.uniform(0.45, 0.65)
        cv2.circle(mask, ctr, int(round(inner)), 0, -1)
    else:
        raise ValueError(f'unknown shape {kind!r}; expected one of '
                         f'{DEMO_SHAPES_CLASSES}')
    return mask


def random_colour(rng: np.random.Generator, saturated: bool) -> np.ndarray:
    """An RGB colour from a random hue.

    Args:
        rng (np.random.Generator): Random stream.
        saturated (bool): Strong saturation and value (objects) or a
            duller colour (strokes).

    Returns:
        np.ndarray: (3,) float32 RGB in [0, 255].
    """
    hue = rng.uniform(0, 180)
    sat = rng.uniform(150, 255) if saturated else rng.uniform(40, 200)
    val = rng.uniform(170, 255) if saturated else rng.uniform(40, 230)
    hsv = np.array([[[hue, sat, val]]], np.float32).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Textured, slightly tinted grey background.

    Args:
        rng (np.random.Generator): Random stream.
        size (int): Image side.

    Returns:
        np.ndarray: (size, size, 3) float32 RGB in [0, 255].
    """
    tone = rng.uniform(50, 150) + rng.uniform(-12, 12, 3)
    shading = 1 + 0.15 * smooth_noise(rng, size, int(rng.integers(2, 5)))
    texture = 0.1 * smooth_noise(rng, size, max(2, size // 6))
    img = tone.astype(np.float32) * (shading + texture)[..., None]
    return img


def draw_strokes(rng: np.random.Generator, img: np.ndarray,
                 count: int) -> None:
    """Thin straight or bent coloured strokes (distractors), in place.

    Args:
        rng (np.random.Generator): Random stream.
        img (np.ndarray): (H, W, 3) float32 RGB.
        count (int): Number of strokes.
    """
    size = img.shape[0]
    for _ in range(count):
        num_pts = int(rng.integers(2, 5))
        start = rng.uniform(0, size, 2)
        steps = rng.normal(0, size / 5, (num_pts - 1, 2))
        pts = np.concatenate([start[None], start + steps.cumsum(0)])
        colour = random_colour(rng, saturated=rng.random() < 0.5)
        cv2.polylines(img, [np.round(pts).astype(np.int32)], False,
                      colour.tolist(), int(rng.integers(1, 3)),
                      cv2.LINE_AA)


def make_sample(
        rng: np.random.Generator, size: int
) -> Tuple[np.ndarray, List[int], np.ndarray]:
    """Draw one image with its objects.

    Args:
        rng (np.random.Generator): Random stream of this sample.
        size (int): Image side.

    Returns:
        tuple: RGB image (size, size, 3) uint8; class index of every object
        (into :data:`DEMO_SHAPES_CLASSES`), in drawing order; and the owner
        map (size, size) int16 that holds, per pixel, the index of the
        object visible there or -1.
    """
    img = background(rng, size)
    draw_strokes(rng, img, int(rng.integers(0, 4)))
    owner = np.full((size, size), -1, np.int16)
    full_areas: List[int] = []
    labels: List[int] = []
    num = 0 if rng.random() < _P_EMPTY else int(
        rng.integers(1, _MAX_OBJECTS + 1))
    for _ in range(num):
        label = int(rng.integers(len(DEMO_SHAPES_CLASSES)))
        for _ in range(_PLACEMENT_TRIES):
            extent = size * float(np.exp(rng.uniform(np.log(_MIN_FRAC),
                                                     np.log(_MAX_FRAC))))
            center = rng.uniform(extent / 2, size - extent / 2, 2)
            mask = shape_mask(rng, DEMO_SHAPES_CLASSES[label], size,
                              (center[0], center[1]), extent).astype(bool)
            left = np.bincount(owner[~mask] + 1, minlength=len(labels) + 1)
            if all(left[k + 1] >= _MIN_VISIBLE * full_areas[k]
                   for k in range(len(labels))) and mask.any():
                break
        else:
            continue
        colour = random_colour(rng, saturated=True)
        shade = 1 + 0.08 * smooth_noise(rng, size, 3)
        img[mask] = colour * shade[mask][:, None]
        owner[mask] = len(labels)
        full_areas.append(int(mask.sum()))
        labels.append(label)
    # strokes over the objects are clutter too; they do not change boxes
    draw_strokes(rng, img, int(rng.integers(0, 3)))
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.8))
    img += rng.normal(0, rng.uniform(2, 8), img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), labels, owner


def owner_boxes(owner: np.ndarray,
                num: int) -> List[Tuple[List[int], int]]:
    """Tight box and visible area of every object of an owner map.

    Args:
        owner (np.ndarray): (H, W) int map, object index or -1.
        num (int): Number of objects.

    Returns:
        list[tuple[list[int], int]]: ``([x, y, w, h], area)`` per object.
    """
    boxes = []
    for k in range(num):
        ys, xs = np.nonzero(owner == k)
        x0, y0 = int(xs.min()), int(ys.min())
        box = [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]
        boxes.append((box, int(len(xs))))
    return boxes


def _write_split(root: str, split: str, split_idx: int, count: int,
                 size: int, seed: int, first_img_id: int,
                 first_ann_id: int) -> dict:
    """Draw and write the images of one split; return its COCO dict."""
    img_dir = osp.join(root, 'images', split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    ann_id = first_ann_id
    for idx in range(count):
        rng = np.random.default_rng([seed, split_idx, idx])
        img, labels, owner = make_sample(rng, size)
        name = f'{split}_{idx:05d}.png'
        cv2.imwrite(osp.join(img_dir, name),
                    cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        img_id = first_img_id + idx
        images.append(dict(id=img_id, file_name=name, width=size,
                           height=size))
        for label, (box, area) in zip(labels,
                                      owner_boxes(owner, len(labels))):
            annotations.append(dict(
                id=ann_id, image_id=img_id,
                category_id=DEMO_SHAPES_CATEGORIES[label][0], bbox=box,
                area=area, iscrowd=0))
            ann_id += 1
    return dict(
        info=dict(description='featsel demo shapes', split=split,
                  size=size, seed=seed),
        images=images,
        annotations=annotations,
        categories=[dict(id=cat_id, name=name, supercategory='shape')
                    for cat_id, name in DEMO_SHAPES_CATEGORIES])


def _build(root: str, num_train: int = 240, num_val: int = 60,
           size: int = 256, seed: int = 0) -> None:
    """Write a complete set into ``root`` (a fresh folder).

    Raises:
        ValueError: If ``size < 32`` or a count is negative.
    """
    if size < 32:
        raise ValueError(f'size must be at least 32 pixels, got {size}')
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must not be negative, got '
                         f'{num_train} and {num_val}')
    counts = dict(train=num_train, val=num_val)
    img_id, ann_id = 1, 1
    ann_dir = osp.join(root, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    # the val file goes last: its presence marks a complete set
    for split_idx, split in enumerate(SPLITS):
        coco = _write_split(root, split, split_idx, counts[split], size,
                            seed, img_id, ann_id)
        img_id += counts[split]
        ann_id += len(coco['annotations'])
        with open(osp.join(ann_dir, f'instances_{split}.json'), 'w') as f:
            json.dump(coco, f)


#: The demo shapes set for :mod:`featsel.datasets.demo_data`.
DEMO_SHAPES = DemoSet(
    name='demo shapes set',
    default_root='data/demo_shapes/',
    sentinel=SENTINEL,
    build=_build,
    options=('num_train', 'num_val', 'size', 'seed'))


def make_demo_shapes_coco(root: str,
                          num_train: int = 240,
                          num_val: int = 60,
                          size: int = 256,
                          seed: int = 0,
                          overwrite: bool = False) -> str:
    """Write the demo shapes set under ``root``.

    Written atomically by :func:`featsel.datasets.demo_data.write_demo_set`
    (no partial set after an interruption; concurrent writers are safe).
    Same arguments give byte-identical files.

    Args:
        root (str): Output folder. It must not exist, be empty, or hold a
            set to keep (or, with ``overwrite``, to replace).
        num_train (int): Number of training images. Defaults to 240.
        num_val (int): Number of validation images. Defaults to 60.
        size (int): Image side in pixels, at least 32. Defaults to 256.
        seed (int): Random seed. Defaults to 0.
        overwrite (bool): Replace a set already in ``root``. Without it an
            existing set is kept and the new one discarded. Defaults to
            False.

    Returns:
        str: ``root``.

    Raises:
        ValueError: If ``size < 32`` or a count is negative.
        DataError: If ``root`` holds other files and no demo set.
    """
    return write_demo_set(DEMO_SHAPES, root, overwrite=overwrite,
                          num_train=num_train, num_val=num_val, size=size,
                          seed=seed)


def ensure_demo_shapes_coco(root: str, **kwargs) -> str:
    """Write the demo shapes set under ``root`` unless it is there already.

    A set counts as present when ``root/annotations/instances_val.json``
    exists (the file written last).

    Args:
        root (str): Folder of the set.
        **kwargs: ``num_train``, ``num_val``, ``size``, ``seed`` of
            :func:`make_demo_shapes_coco`, used only when writing.

    Returns:
        str: ``root``.
    """
    return ensure_demo_set(DEMO_SHAPES, root, **kwargs)
