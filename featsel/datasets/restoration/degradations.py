"""Synthetic haze, rain and snow, each driven by one severity in [0, 1].

Every function maps the severity ``s`` to its physical parameters by fixed
monotone rules (so ``s = 0`` leaves the image clean and a larger ``s`` is
never milder) and draws the random parts (streak positions, flake sizes,
airlight tint) from ``rng``. Images are RGB float32 in [0, 1], (H, W, 3);
lengths are fractions of the image height, so a 4K image gets the same
look as a 128-px one.

* Haze, the atmospheric scattering model: ``I = J·t + A·(1 − t)`` with
  transmission ``t = exp(−β·d)``, depth ``d`` in [0, 1] and
  ``β = HAZE_BETA_MAX · s``; the airlight ``A`` is a bright grey with a
  slight random tint.
* Rain: two streak layers (near: long, wide, bright and sparse; far: short,
  thin, dim and dense), each a field of random impulses convolved with an
  anti-aliased line of the layer's length and width (``RAIN_WIDTH`` of the
  height for the near layer, at least 1 px) at angle ``θ`` from the vertical
  (positive when the lower end leans right; one random ``θ`` per image,
  ±3° between the layers), screen-blended
  ``I = 1 − (1 − J)·Π_k(1 − R_k)``. The pixel fraction the streaks cover,
  their length and their brightness grow with ``s``.
* Snow: flakes at three scales (small, medium, and large out-of-focus
  "bokeh" discs), each a field of impulses blurred to blobs whose peak is
  the flake's opacity; the flake mask ``M = 1 − Π_k(1 − F_k)`` blends the
  image toward the snow colour ``I = J·(1 − M) + c·M``. The covered fraction
  and the largest flake size grow with ``s``.
"""
from typing import Tuple

import cv2
import numpy as np

#: β at severity 1 (depth is in [0, 1]; t ≥ exp(−3) ≈ 0.05).
HAZE_BETA_MAX = 3.0
#: Fraction of pixels the rain streaks cover at severity 1.
RAIN_COVER_MAX = 0.12
#: Streak length at severity 0 and 1, fractions of the image height.
RAIN_LENGTH = (0.04, 0.14)
#: Width of the near streaks, fraction of the image height (far: half).
RAIN_WIDTH = 0.005
#: Largest angle of the streaks from the vertical, degrees.
RAIN_MAX_ANGLE = 25.0
#: Fraction of pixels the snow flakes cover at severity 1.
SNOW_COVER_MAX = 0.25
#: Flake radii at severity 1 (small, medium, bokeh), fractions of the
#: image height; the bokeh radius shrinks to 40 % of it at severity 0.
SNOW_RADII = (0.005, 0.012, 0.03)


def _check_severity(severity: float) -> float:
    if not 0 <= severity <= 1:
        raise ValueError(f'severity must be in [0, 1], got {severity}')
    return float(severity)


def _lerp(bounds: Tuple[float, float], s: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * s


def _impulses(rng: np.random.Generator, shape: Tuple[int, int], count: int,
              low: float, high: float) -> np.ndarray:
    """``count`` impulses of uniform height in [low, high] at random
    pixels; (H, W) float32."""
    field = np.zeros(shape, np.float32)
    idx = rng.integers(0, shape[0] * shape[1], count)
    np.add.at(field.reshape(-1), idx,
              rng.uniform(low, high, count).astype(np.float32))
    return field


def add_haze(img: np.ndarray, depth: np.ndarray, severity: float,
             rng: np.random.Generator) -> np.ndarray:
    """Haze by the atmospheric scattering model (see the module docstring).

    Args:
        img (np.ndarray): Clean image ``J``, (H, W, 3) float32 in [0, 1].
        depth (np.ndarray): Depth ``d``, (H, W) in [0, 1], 1 = far.
        severity (float): ``s`` in [0, 1]; ``β = HAZE_BETA_MAX · s``.
        rng (np.random.Generator): Draws the airlight.

    Returns:
        np.ndarray: Hazy image, (H, W, 3) float32 in [0, 1].
    """
    s = _check_severity(severity)
    grey = rng.uniform(0.8, 0.95)
    airlight = np.clip(grey + rng.uniform(-0.04, 0.04, 3), 0,
                       1).astype(np.float32)
    t = np.exp(-HAZE_BETA_MAX * s * depth.astype(np.float32))[..., None]
    return np.clip(img * t + airlight * (1 - t), 0, 1)


def line_kernel(length: float, angle_deg: float,
                width: float = 1.0) -> np.ndarray:
    """Anti-aliased line through the centre of a square kernel.

    Args:
        length (float): Line length in pixels (at least 1).
        angle_deg (float): Angle from the vertical in degrees, positive
            when the lower end leans to the right (x to the right, y
            down).
        width (float): Line width in pixels. Defaults to 1.

    Returns:
        np.ndarray: (k, k) float32 with values in [0, 1], k odd.
    """
    k = int(np.ceil(max(length, width))) | 1
    # drawn 8x larger with sub-pixel precision, then area-averaged
    up, shift = 8, 4
    big = np.zeros((k * up, k * up), np.float32)
    c = (k * up - 1) / 2
    a = np.deg2rad(angle_deg)
    dx, dy = 0.5 * length * up * np.sin(a), 0.5 * length * up * np.cos(a)
    p0 = (int(round((c - dx) * 2**shift)), int(round((c - dy) * 2**shift)))
    p1 = (int(round((c + dx) * 2**shift)), int(round((c + dy) * 2**shift)))
    cv2.line(big, p0, p1, 1.0, max(1, int(round(width * up))), cv2.LINE_AA,
             shift)
    kernel = cv2.resize(big, (k, k), interpolation=cv2.INTER_AREA)
    return np.clip(kernel, 0, 1)


def rain_layer(rng: np.random.Generator, shape: Tuple[int, int],
               cover: float, length: float, width: float, angle_deg: float,
               brightness: float) -> np.ndarray:
    """One layer of parallel streaks.

    Args:
        rng (np.random.Generator): Draws streak positions and heights.
        shape (tuple[int, int]): ``(H, W)``.
        cover (float): Fraction of pixels the streaks cover.
        length (float): Streak length in pixels.
        width (float): Streak width in pixels.
        angle_deg (float): Angle from the vertical, degrees.
        brightness (float): Mean streak brightness in [0, 1].

    Returns:
        np.ndarray: (H, W) float32 in [0, 1].
    """
    kernel = line_kernel(length, angle_deg, width)
    count = int(round(cover * shape[0] * shape[1] / kernel.sum()))
    field = _impulses(rng, shape, count, 0.6 * brightness,
                      min(1.0, 1.4 * brightness))
    return np.clip(cv2.filter2D(field, -1, kernel,
                                borderType=cv2.BORDER_CONSTANT), 0, 1)


def add_rain(img: np.ndarray, severity: float,
             rng: np.random.Generator) -> np.ndarray:
    """Two layers of rain streaks (see the module docstring).

    Args:
        img (np.ndarray): Clean image, (H, W, 3) float32 in [0, 1].
        severity (float): ``s`` in [0, 1].
        rng (np.random.Generator): Draws the angle and the streaks.

    Returns:
        np.ndarray: Rainy image, (H, W, 3) float32 in [0, 1].
    """
    s = _check_severity(severity)
    shape = img.shape[:2]
    height = shape[0]
    angle = rng.uniform(-RAIN_MAX_ANGLE, RAIN_MAX_ANGLE)
    length = _lerp(RAIN_LENGTH, s) * height
    width = max(1.0, RAIN_WIDTH * height)
    brightness = 0.35 + 0.45 * s
    near = rain_layer(rng, shape, 0.35 * RAIN_COVER_MAX * s, length, width,
                      angle + rng.uniform(-3, 3), brightness)
    far = rain_layer(rng, shape, 0.65 * RAIN_COVER_MAX * s, 0.5 * length,
                     max(1.0, 0.5 * width), angle + rng.uniform(-3, 3),
                     0.6 * brightness)
    # near streaks are out of focus: softer edges
    near = cv2.GaussianBlur(near, (0, 0), max(0.5, 0.002 * height))
    keep = (1 - near) * (1 - far)
    return np.clip(1 - (1 - img) * keep[..., None], 0, 1)


def flake_layer(rng: np.random.Generator, shape: Tuple[int, int],
                cover: float, radius: float, opacity: Tuple[float, float],
                disc: bool) -> np.ndarray:
    """One scale of snow flakes.

    Args:
        rng (np.random.Generator): Draws positions and opacities.
        shape (tuple[int, int]): ``(H, W)``.
        cover (float): Fraction of pixels the flakes cover.
        radius (float): Flake radius in pixels.
        opacity (tuple[float, float]): Range of a flake's peak opacity.
        disc (bool): Flat discs with a soft edge (out-of-focus bokeh)
            instead of Gaussian blobs.

    Returns:
        np.ndarray: (H, W) float32 in [0, 1].
    """
    radius = max(radius, 0.6)
    count = int(round(cover * shape[0] * shape[1] / (np.pi * radius**2)))
    if disc:
        field = _impulses(rng, shape, count, *opacity)
        k = 2 * int(np.ceil(radius)) + 1
        kernel = np.zeros((k, k), np.float32)
        cv2.circle(kernel, (k // 2, k // 2), int(round(radius)), 1.0, -1)
        layer = cv2.filter2D(field, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        layer = cv2.GaussianBlur(layer, (0, 0), max(0.5, 0.25 * radius))
    else:
        # a unit impulse blurred by σ peaks at 1 / (2πσ²)
        sigma = radius / 1.5
        field = _impulses(rng, shape, count,
                          *(2 * np.pi * sigma**2 * np.array(opacity)))
        layer = cv2.GaussianBlur(field, (0, 0), sigma,
                                 borderType=cv2.BORDER_CONSTANT)
    return np.clip(layer, 0, 1)


def add_snow(img: np.ndarray, severity: float,
             rng: np.random.Generator) -> np.ndarray:
    """Snow flakes at three scales (see the module docstring).

    Args:
        img (np.ndarray): Clean image, (H, W, 3) float32 in [0, 1].
        severity (float): ``s`` in [0, 1].
        rng (np.random.Generator): Draws the flakes.

    Returns:
        np.ndarray: Snowy image, (H, W, 3) float32 in [0, 1].
    """
    s = _check_severity(severity)
    shape = img.shape[:2]
    height = shape[0]
    small, medium, bokeh = (r * height for r in SNOW_RADII)
    cover = SNOW_COVER_MAX * s
    keep = np.ones(shape, np.float32)
    for frac, radius, opacity, disc in (
            (0.35, small, (0.7, 1.0), False),
            (0.35, medium, (0.6, 0.95), False),
            (0.30, bokeh * (0.4 + 0.6 * s), (0.25, 0.55), True)):
        keep *= 1 - flake_layer(rng, shape, frac * cover, radius, opacity,
                                disc)
    colour = np.clip(rng.uniform(0.9, 1.0) + rng.uniform(-0.03, 0.03, 3), 0,
                     1).astype(np.float32)
    mask = (1 - keep)[..., None]
    return np.clip(img * (1 - mask) + colour * mask, 0, 1)
