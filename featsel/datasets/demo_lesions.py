"""A seeded synthetic lesion segmentation set in the mmseg directory layout.

The images imitate dermoscopy-like pictures: a smoothly varying, textured skin
background with faint vessels and occasional hairs, and zero, one or two
irregular lesions of very different size and contrast. Each image is drawn
from its own random stream ``(seed, split, index)``, so a split does not
change when the size of another split does.

Layout written under ``root``::

    img_dir/{train,val}/<id>.png   RGB uint8, (size, size, 3)
    ann_dir/{train,val}/<id>.png   uint8 {0, 1}, (size, size)
    splits/{train,val}.txt         ids without suffix, one per line

:data:`DEMO_LESIONS` describes the set for :mod:`featsel.datasets.demo_data`
(``splits/val.txt`` is written last and marks a complete set).
"""
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np
from mmengine.utils import ProgressBar, mkdir_or_exist

from .demo_data import DemoSet

SPLITS = ('train', 'val')

# Probabilities of an image holding no lesion and two lesions.
_P_EMPTY = 0.06
_P_TWO = 0.22


def smooth_noise(rng: np.random.Generator, size: int,
                 cells: int) -> np.ndarray:
    """Band-limited noise: a coarse Gaussian grid upsampled with cubic
    interpolation.

    Args:
        rng (np.random.Generator): Random stream.
        size (int): Side of the output map.
        cells (int): Side of the coarse grid; smaller is smoother.

    Returns:
        np.ndarray: (size, size) float32, zero mean, roughly unit std.
    """
    grid = rng.standard_normal((cells, cells)).astype(np.float32)
    noise = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def polar_blob(rng: np.random.Generator, size: int,
               center: Tuple[float, float], radius: float) -> np.ndarray:
    """Irregular blob whose radius is a random low-order Fourier series of
    the angle, ``r(θ) = r0 (1 + Σ_k a_k cos(kθ + φ_k))``, k = 2..6.

    Args:
        rng (np.random.Generator): Random stream.
        size (int): Side of the output mask.
        center (tuple[float, float]): Blob centre ``(x, y)`` in pixels.
        radius (float): Mean radius ``r0`` in pixels.

    Returns:
        np.ndarray: (size, size) uint8 {0, 1}.
    """
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    ks = np.arange(2, 7)
    amps = rng.uniform(0, 0.22, len(ks)) / np.sqrt(ks - 1)
    phases = rng.uniform(0, 2 * np.pi, len(ks))
    r = radius * (1 + (amps[:, None] * np.cos(ks[:, None] * theta +
                                               phases[:, None])).sum(0))
    r = np.maximum(r, 0.3 * radius)
    pts = np.stack([center[0] + r * np.cos(theta),
                    center[1] + r * np.sin(theta)], axis=1)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask


def lesion_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """One lesion: a polar blob, sometimes united with an overlapping
    satellite blob, with its outline smoothed.

    The mean radius is log-uniform between 3 px and 35% of the image side,
    so tiny and large lesions both occur.

    Args:
        rng (np.random.Generator): Random stream.
        size (int): Side of the output mask.

    Returns:
        np.ndarray: (size, size) uint8 {0, 1}.
    """
    radius = float(np.exp(rng.uniform(np.log(3.0), np.log(0.35 * size))))
    margin = min(radius, size / 2 - 1)
    center = rng.uniform(margin, size - margin, 2)
    mask = polar_blob(rng, size, tuple(center), radius)
    if rng.random() < 0.35:
        angle = rng.uniform(0, 2 * np.pi)
        offset = radius * rng.uniform(0.5, 1.0)
        satellite = center + offset * np.array([np.cos(angle), np.sin(angle)])
        mask |= polar_blob(rng, size, tuple(satellite),
                           radius * rng.uniform(0.35, 0.7))
    sigma = max(0.6, 0.08 * radius)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    smoothed = (soft > 0.5).astype(np.uint8)
    # Smoothing may erase a tiny blob; keep the original outline then.
    return smoothed if smoothed.any() else mask


def skin_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Textured background: base tone, low-frequency shading, fine texture,
    faint vessels.

    Args:
        rng (np.random.Generator): Random stream.
        size (int): Image side.

    Returns:
        np.ndarray: (size, size, 3) float32 RGB in [0, 255].
    """
    tone = np.array([rng.uniform(190, 235), rng.uniform(140, 185),
                     rng.uniform(115, 160)], np.float32)
    shading = 1 + 0.08 * smooth_noise(rng, size, int(rng.integers(3, 6)))
    texture = 1 + 0.03 * smooth_noise(rng, size, max(2, size // 4))
    img = tone * (shading * texture)[..., None]
    vessels = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(0, 4))):
        draw_curve(rng, vessels, size, thickness=1)
    vessels = cv2.GaussianBlur(vessels, (0, 0), 0.8)
    # Vessels are reddish: keep red, lower green and blue.
    img *= 1 - 0.12 * vessels[..., None] * np.array([0, 1, 0.8], np.float32)
    return img


def draw_curve(rng: np.random.Generator, canvas: np.ndarray, size: int,
               thickness: int) -> None:
    """Draw a random smooth curve of value 1 across ``canvas`` in place.

    Args:
        rng (np.random.Generator): Random stream.
        canvas (np.ndarray): (size, size) float32 canvas.
        size (int): Canvas side.
        thickness (int): Line thickness in pixels.
    """
    start = rng.uniform(0, size, 2)
    heading = rng.uniform(0, 2 * np.pi)
    steps = rng.normal(0, 0.25, 24).cumsum() + heading
    step_len = size / 16
    pts = start + step_len * np.stack([np.cos(steps), np.sin(steps)],
                                      1).cumsum(0)
    cv2.polylines(canvas, [np.round(pts).astype(np.int32)], False, 1.0,
                  thickness, cv2.LINE_AA)


def paint_lesion(rng: np.random.Generator, img: np.ndarray,
                 mask: np.ndarray) -> np.ndarray:
    """Blend a textured, brownish lesion into ``img`` through a soft edge.

    Contrast is drawn between faint (0.15) and strong (0.9).

    Args:
        rng (np.random.Generator): Random stream.
        img (np.ndarray): (H, W, 3) float32 RGB.
        mask (np.ndarray): (H, W) uint8 {0, 1} lesion mask.

    Returns:
        np.ndarray: (H, W, 3) float32 RGB.
    """
    size = img.shape[0]
    colour = np.array([rng.uniform(70, 150), rng.uniform(35, 90),
                       rng.uniform(20, 70)], np.float32)
    blotches = 1 + 0.25 * smooth_noise(rng, size, max(2, size // 8))
    lesion = colour * blotches[..., None]
    contrast = rng.uniform(0.15, 0.9)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0),
                             rng.uniform(0.5, 1.5))
    alpha = contrast * alpha[..., None]
    return img * (1 - alpha) + lesion * alpha


def draw_hairs(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Dark thin curves that are not part of the lesion (distractors).

    Args:
        rng (np.random.Generator): Random stream.
        img (np.ndarray): (H, W, 3) float32 RGB.

    Returns:
        np.ndarray: (H, W, 3) float32 RGB.
    """
    size = img.shape[0]
    hairs = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        draw_curve(rng, hairs, size, thickness=1)
    return img * (1 - 0.6 * hairs[..., None])


def make_sample(rng: np.random.Generator,
                size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one image and its lesion mask.

    Args:
        rng (np.random.Generator): Random stream of this sample.
        size (int): Image side.

    Returns:
        tuple[np.ndarray, np.ndarray]: RGB image (size, size, 3) uint8 and
        mask (size, size) uint8 {0, 1}.
    """
    img = skin_background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    draw = rng.random()
    if draw < _P_EMPTY:
        num_lesions = 0
    else:
        num_lesions = 2 if draw < _P_EMPTY + _P_TWO else 1
    for _ in range(num_lesions):
        one = lesion_mask(rng, size)
        img = paint_lesion(rng, img, one)
        mask |= one
    if rng.random() < 0.3:
        img = draw_hairs(rng, img)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.0))
    img += rng.normal(0, rng.uniform(2, 8), img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), mask


def make_demo_lesions(root: str,
                      num_train: int = 240,
                      num_val: int = 60,
                      size: int = 128,
                      seed: int = 0) -> Dict[str, List[str]]:
    """Write the demo lesion set under ``root``.

    Same arguments give byte-identical files. Existing files of the same
    name are overwritten.

    Args:
        root (str): Output directory (created if missing).
        num_train (int): Number of training images. Defaults to 240.
        num_val (int): Number of validation images. Defaults to 60.
        size (int): Image side in pixels, at least 16. Defaults to 128.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict[str, list[str]]: Image ids written per split.

    Raises:
        ValueError: If ``size < 16`` (no room for lesions of varied size).
    """
    if size < 16:
        raise ValueError(f'size must be at least 16 pixels, got {size}')
    counts = dict(train=num_train, val=num_val)
    ids: Dict[str, List[str]] = {}
    bar = ProgressBar(num_train + num_val)
    for split_idx, split in enumerate(SPLITS):
        img_dir = osp.join(root, 'img_dir', split)
        ann_dir = osp.join(root, 'ann_dir', split)
        mkdir_or_exist(img_dir)
        mkdir_or_exist(ann_dir)
        ids[split] = []
        for idx in range(counts[split]):
            rng = np.random.default_rng([seed, split_idx, idx])
            img, mask = make_sample(rng, size)
            name = f'{split}_{idx:05d}'
            cv2.imwrite(osp.join(img_dir, name + '.png'),
                        cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            cv2.imwrite(osp.join(ann_dir, name + '.png'), mask)
            ids[split].append(name)
            bar.update()
    split_dir = osp.join(root, 'splits')
    mkdir_or_exist(split_dir)
    for split in SPLITS:
        with open(osp.join(split_dir, f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{name}\n' for name in ids[split]))
    return ids


#: The demo lesion set for :mod:`featsel.datasets.demo_data`.
DEMO_LESIONS = DemoSet(
    name='demo lesion set',
    default_root='data/demo_lesions/',
    sentinel=osp.join('splits', 'val.txt'),
    build=make_demo_lesions,
    options=('num_train', 'num_val', 'size', 'seed'),
    command='python tools/misc/make_demo_data.py --out {root}')
