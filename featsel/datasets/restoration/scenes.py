"""Procedural clean outdoor scenes with a depth map, for the restoration
demo set.

A scene is a sky gradient with soft clouds above a horizon, textured ground
below it, and buildings and trees standing on the ground. Every part has a
depth in [0, 1] (1 at the horizon and in the sky, smaller nearer the
camera), which the haze model of :mod:`.degradations` needs. Sizes are
fractions of the image height, so one random stream draws the same layout
at 128 px and at 4K.

Ground depth follows a flat ground plane seen from a camera above it: a row
``y`` below the horizon row ``y_h`` has

    d(y) = c / (c + (y - y_h) / (H - y_h)),   c = 0.15,

1 at the horizon and ``c / (1 + c) ≈ 0.13`` at the bottom edge. An object
standing on row ``y_b`` takes the depth ``d(y_b)`` and a size proportional
to ``1 - d(y_b)`` plus a floor, so near objects are large.
"""
from typing import Tuple

import cv2
import numpy as np

# ground-plane constant of the depth formula (see the module docstring)
_GROUND_C = 0.15
# (R, G, B) base colours of the ground: grass, dry grass, sand, asphalt, earth
_GROUND_COLOURS = np.array([[0.28, 0.42, 0.18], [0.52, 0.50, 0.28],
                            [0.72, 0.64, 0.48], [0.36, 0.36, 0.38],
                            [0.42, 0.32, 0.22]], np.float32)


def smooth_noise(rng: np.random.Generator, height: int, width: int,
                 cells: int) -> np.ndarray:
    """Band-limited noise: a Gaussian grid of ``cells`` cells along the
    shorter side, upsampled with cubic interpolation.

    Args:
        rng (np.random.Generator): Random stream.
        height (int): Output height.
        width (int): Output width.
        cells (int): Grid cells along the shorter side; fewer is smoother.

    Returns:
        np.ndarray: (height, width) float32, zero mean, unit std.
    """
    short = min(height, width)
    gh = max(2, round(cells * height / short))
    gw = max(2, round(cells * width / short))
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    noise = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def ground_depth(rows: np.ndarray, horizon: float, height: int) -> np.ndarray:
    """Depth of the ground plane at image rows (see the module docstring).

    Args:
        rows (np.ndarray): Row coordinates, any shape.
        horizon (float): Horizon row ``y_h``.
        height (int): Image height ``H``.

    Returns:
        np.ndarray: Depth in (0, 1], 1 at and above the horizon.
    """
    below = np.clip((rows - horizon) / (height - horizon), 0, None)
    return (_GROUND_C / (_GROUND_C + below)).astype(np.float32)


def _sky(rng: np.random.Generator, height: int, width: int,
         horizon: float) -> np.ndarray:
    """Vertical gradient from a pale horizon to a bluer zenith, with soft
    clouds; (height, width, 3) float32."""
    zenith = np.array([rng.uniform(0.15, 0.35), rng.uniform(0.35, 0.55),
                       rng.uniform(0.65, 0.9)], np.float32)
    pale = np.array([rng.uniform(0.7, 0.85), rng.uniform(0.78, 0.9),
                     rng.uniform(0.85, 0.95)], np.float32)
    frac = np.clip(np.arange(height, dtype=np.float32) / max(horizon, 1), 0,
                   1)[:, None, None]
    sky = zenith * (1 - frac) + pale * frac
    clouds = smooth_noise(rng, height, width, int(rng.integers(3, 7)))
    cover = np.clip((clouds - rng.uniform(0.3, 1.2)) * 0.8, 0, 0.85)
    return sky * (1 - cover[..., None]) + 0.95 * cover[..., None]


def _ground(rng: np.random.Generator, height: int,
            width: int) -> np.ndarray:
    """Base colour with coarse shading and fine texture; (H, W, 3)."""
    base = _GROUND_COLOURS[rng.integers(len(_GROUND_COLOURS))]
    base = base * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    shading = 1 + 0.15 * smooth_noise(rng, height, width,
                                      int(rng.integers(3, 6)))
    texture = 1 + 0.08 * smooth_noise(rng, height, width,
                                      max(4, min(height, width) // 6))
    return base * (shading * texture)[..., None]


def _building(rng: np.random.Generator, img: np.ndarray, depth: np.ndarray,
              horizon: float, base: float) -> None:
    """Paint one building (a box with a grid of windows) standing on row
    ``base`` in place."""
    height, width = depth.shape
    d = float(ground_depth(np.array(base), horizon, height))
    scale = 0.25 + 1.2 * (1 - d)
    bh = height * rng.uniform(0.12, 0.35) * scale
    bw = height * rng.uniform(0.08, 0.25) * scale
    x0 = rng.uniform(-0.1 * bw, width - 0.9 * bw)
    top, left = int(round(base - bh)), int(round(x0))
    bottom, right = int(round(base)), int(round(x0 + bw))
    t, b = max(top, 0), min(bottom, height)
    lft, r = max(left, 0), min(right, width)
    if b - t < 2 or r - lft < 2:
        return
    wall = rng.uniform(0.25, 0.8, 3).astype(np.float32)
    window = np.where(rng.random() < 0.5, wall * 0.35,
                      np.clip(wall * 1.5 + 0.2, 0, 1)).astype(np.float32)
    period = max(3.0, bw / rng.uniform(3, 7))
    yy, xx = np.mgrid[t:b, lft:r].astype(np.float32)
    in_window = ((((yy - top) % period) > 0.35 * period)
                 & (((xx - left) % period) > 0.35 * period)
                 & (yy - top > 0.5 * period) & (bottom - yy > 0.5 * period))
    shade = 1 + 0.06 * rng.standard_normal((b - t, r - lft)).astype(
        np.float32)
    patch = np.where(in_window[..., None], window, wall * shade[..., None])
    # a darker outline marks the building's edges
    edge = max(1, int(round(0.04 * bw)))
    patch[:edge] *= 0.6
    patch[:, :edge] *= 0.7
    patch[:, -edge:] *= 0.7
    img[t:b, lft:r] = patch
    depth[t:b, lft:r] = d


def _tree(rng: np.random.Generator, img: np.ndarray, depth: np.ndarray,
          horizon: float, base: float) -> None:
    """Paint one tree (trunk and a textured round crown) standing on row
    ``base`` in place."""
    height, width = depth.shape
    d = float(ground_depth(np.array(base), horizon, height))
    radius = height * rng.uniform(0.04, 0.1) * (0.25 + 1.2 * (1 - d))
    cx = rng.uniform(0, width)
    trunk_h = radius * rng.uniform(0.8, 1.5)
    cy = base - trunk_h - 0.8 * radius
    mask = np.zeros(depth.shape, np.uint8)
    half = max(1, int(round(0.15 * radius)))
    cv2.rectangle(mask, (int(cx) - half, int(base - trunk_h - radius * 0.2)),
                  (int(cx) + half, int(base)), 1, -1)
    trunk = mask.astype(bool)
    mask[:] = 0
    cv2.circle(mask, (int(cx), int(cy)), max(1, int(round(radius))), 1, -1)
    crown = mask.astype(bool)
    leaf = np.array([rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.5),
                     rng.uniform(0.05, 0.2)], np.float32)
    n = int(crown.sum())
    img[trunk] = np.array([0.3, 0.22, 0.15], np.float32)
    img[crown] = leaf * (1 + 0.25 * rng.standard_normal((n, 1))).astype(
        np.float32)
    depth[trunk | crown] = d


def make_scene(rng: np.random.Generator, height: int,
               width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one clean scene and its depth map.

    Args:
        rng (np.random.Generator): Random stream of the scene.
        height (int): Image height, at least 32.
        width (int): Image width, at least 32.

    Returns:
        tuple[np.ndarray, np.ndarray]: RGB image (H, W, 3) float32 in
        [0, 1] and depth (H, W) float32 in (0, 1] (1 = far).
    """
    if min(height, width) < 32:
        raise ValueError(f'a scene needs at least 32x32 pixels, got '
                         f'{height}x{width}')
    horizon = height * rng.uniform(0.3, 0.5)
    rows = np.arange(height, dtype=np.float32)[:, None]
    depth = np.broadcast_to(ground_depth(rows, horizon, height),
                            (height, width)).copy()
    img = np.where((rows >= horizon)[..., None],
                   _ground(rng, height, width),
                   _sky(rng, height, width, horizon))
    num = int(rng.integers(5, 12))
    kinds = rng.random(num) < 0.65
    # objects stand nearer the horizon more often (a wider ground area is
    # far); painted far to near, so a nearer object hides a farther one
    bases = horizon + 2 + (height - horizon - 2) * rng.random(num)**1.5
    for i in np.argsort(bases):
        paint = _building if kinds[i] else _tree
        paint(rng, img, depth, horizon, float(bases[i]))
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.5)
    return np.clip(img, 0, 1), depth
