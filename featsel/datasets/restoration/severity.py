"""No-reference severity estimators for haze, rain and snow, in [0, 1].

Each estimator reads one degraded RGB image (uint8, or float in [0, 1]),
(H, W, 3), and returns a number that grows with the amount of the
degradation: on one scene a heavier degradation gets a larger value. The
numbers are not calibrated across data sets (the data check tool,
``restoration_data_check.py``, reports how they rank against a set's own
severities). Lengths are fractions of the shorter image side ``S``, so a 4K
image and its 128-px copy get about the same value; an image whose shorter
side exceeds :data:`WORK_SIDE` is first reduced to it (area average), which
bounds the cost at any resolution.

* **Haze** (dark channel + contrast). The dark channel
  ``D(x) = min_{y ∈ Ω(x)} min_c I_c(y)`` over a square ``Ω`` of side
  ``0.03·S`` is near 0 in clean outdoor images and approaches the airlight
  ``A`` under haze (He et al. 2009), so ``D̄ / A`` estimates the mean haze
  opacity ``1 − t``; ``A`` is the mean intensity (over the channels) of the
  0.1 % of pixels with the brightest dark channel. Haze also scales local
  contrast by ``t``. With ``C̄`` the mean local standard deviation of the
  luminance (Gaussian window, σ = 0.02·S):

      s_haze = clip(D̄ / A, 0, 1) · exp(−C̄ / HAZE_CONTRAST_REF).

* **Rain** (oriented high-frequency energy + direction consistency). The
  white top-hat ``T = Y − open(Y)`` of the luminance (disc of radius
  ``0.012·S``) keeps thin bright structures (streaks) and drops edges. The
  structure tensor of ``T`` over the image, ``J = mean(∇T ∇Tᵀ)`` with
  eigenvalues ``λ1 ≥ λ2``, gives the oriented energy ``E = λ1 − λ2`` (the
  gradient energy along one direction) and the direction consistency
  ``κ = (λ1 − λ2) / (λ1 + λ2)`` (1: all streaks parallel):

      s_rain = κ · (1 − exp(−sqrt(E) / RAIN_ENERGY_REF)).

* **Snow** (LoG/DoG blob density and scale). The difference of Gaussians
  ``G_σ * Y − G_{1.6σ} * Y`` (the usual LoG approximation) at scales
  ``σ ∈ SNOW_SCALES · S`` responds to bright blobs of size about σ. A
  whitish pixel (``max_c I − min_c I < SNOW_MAX_SATURATION``: flakes are
  white) whose response exceeds ``SNOW_BLOB_THRESHOLD`` at some scale lies
  on a flake; with ``φ`` the fraction of such pixels (the area the blobs
  of all densities and scales cover):

      s_snow = 1 − exp(−φ / SNOW_COVER_REF).

  :func:`snow_blobs` also counts the blobs (local maxima of the response
  per scale) as a density per ``S²`` and gives their mean scale. ``φ``
  rather than the count drives the severity, as heavy snow merges flakes
  into fewer, larger blobs.

Light rain (a few percent of pixels) on a scene with strong thin
structure of another orientation can score below the clean scene, since
it lowers ``κ`` first; from moderate rain on the order is kept.
"""
from typing import Dict

import cv2
import numpy as np

#: Shorter side larger images are reduced to before estimating.
WORK_SIDE = 512
HAZE_PATCH = 0.03
HAZE_CONTRAST_SIGMA = 0.02
HAZE_CONTRAST_REF = 0.05
# fraction of pixels (brightest dark channel) that estimate the airlight
HAZE_AIRLIGHT_TOP = 0.001
RAIN_TOPHAT_RADIUS = 0.012
RAIN_ENERGY_REF = 0.03
SNOW_SCALES = (0.004, 0.008, 0.016, 0.032)
SNOW_BLOB_THRESHOLD = 0.06
SNOW_MAX_SATURATION = 0.15
SNOW_COVER_REF = 0.06
# ratio of the two Gaussians of the DoG
_DOG_K = 1.6


def to_float_rgb(img: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 image, or float image in [0, 1], as float32."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) RGB image, got shape '
                         f'{img.shape}')
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255
    return img.astype(np.float32)


def working_copy(img: np.ndarray) -> np.ndarray:
    """``img`` as float RGB, reduced to a shorter side of
    :data:`WORK_SIDE` if it is larger."""
    rgb = to_float_rgb(img)
    h, w = rgb.shape[:2]
    scale = WORK_SIDE / min(h, w)
    if scale >= 1:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 601 luma ``0.299 R + 0.587 G + 0.114 B``; (H, W) float32."""
    return to_float_rgb(img) @ np.array([0.299, 0.587, 0.114], np.float32)


def _pixels(img: np.ndarray, frac: float, least: float) -> float:
    return max(least, frac * min(img.shape[:2]))


def dark_channel(img: np.ndarray, patch: int) -> np.ndarray:
    """``min`` over the colour channels, then over a ``patch²`` square.

    Args:
        img (np.ndarray): (H, W, 3) RGB.
        patch (int): Side of the square, pixels.

    Returns:
        np.ndarray: (H, W) float32.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(to_float_rgb(img).min(axis=2), kernel)


def haze_severity(img: np.ndarray) -> float:
    """Haze severity from the dark channel and the local contrast (formula
    in the module docstring).

    Args:
        img (np.ndarray): (H, W, 3) RGB, uint8 or float in [0, 1].

    Returns:
        float: In [0, 1].
    """
    rgb = working_copy(img)
    dark = dark_channel(rgb, int(round(_pixels(rgb, HAZE_PATCH, 3))))
    top = max(1, int(HAZE_AIRLIGHT_TOP * dark.size))
    brightest = np.argpartition(dark.reshape(-1), -top)[-top:]
    airlight = float(rgb.reshape(-1, 3)[brightest].mean())
    opacity = np.clip(dark.mean() / max(airlight, 1e-3), 0, 1)
    y = luminance(rgb)
    sigma = _pixels(rgb, HAZE_CONTRAST_SIGMA, 1.0)
    mean = cv2.GaussianBlur(y, (0, 0), sigma)
    var = cv2.GaussianBlur(y * y, (0, 0), sigma) - mean * mean
    contrast = float(np.sqrt(np.clip(var, 0, None)).mean())
    return float(opacity * np.exp(-contrast / HAZE_CONTRAST_REF))


def rain_orientation(img: np.ndarray) -> Dict[str, float]:
    """Oriented energy of thin bright structures and its direction
    consistency.

    Args:
        img (np.ndarray): (H, W, 3) RGB, uint8 or float in [0, 1].

    Returns:
        dict: ``energy`` (``E = λ1 − λ2``), ``consistency`` (``κ`` in
        [0, 1]) and ``angle`` (direction of the structures in degrees from
        the vertical, in (−90, 90], positive when the lower end leans to
        the right, as in :func:`~.degradations.add_rain`).
    """
    y = luminance(working_copy(img))
    radius = max(1, int(round(RAIN_TOPHAT_RADIUS * min(y.shape))))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                     (2 * radius + 1, 2 * radius + 1))
    tophat = cv2.morphologyEx(y, cv2.MORPH_TOPHAT, disc)
    gx = cv2.Sobel(tophat, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(tophat, cv2.CV_32F, 0, 1, ksize=3) / 8
    jxx, jyy, jxy = (float(v.mean()) for v in (gx * gx, gy * gy, gx * gy))
    trace = jxx + jyy
    energy = float(np.hypot(jxx - jyy, 2 * jxy))
    # the dominant gradient is across the streaks, at this angle from the
    # x axis (image y pointing down); the streaks run perpendicular to it
    across = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))
    angle = -across if -across > -90 else 180 - across
    return dict(energy=energy,
                consistency=energy / trace if trace > 0 else 0.0,
                angle=float(angle))


def rain_severity(img: np.ndarray) -> float:
    """Rain severity from the oriented energy of thin bright structures and
    their direction consistency (formula in the module docstring).

    Args:
        img (np.ndarray): (H, W, 3) RGB, uint8 or float in [0, 1].

    Returns:
        float: In [0, 1].
    """
    stats = rain_orientation(img)
    strength = 1 - np.exp(-np.sqrt(stats['energy']) / RAIN_ENERGY_REF)
    return float(np.clip(stats['consistency'] * strength, 0, 1))


def snow_blobs(img: np.ndarray) -> Dict[str, float]:
    """Whitish bright blobs of the luminance at several scales (DoG).

    Args:
        img (np.ndarray): (H, W, 3) RGB, uint8 or float in [0, 1].

    Returns:
        dict: ``cover`` (``φ``, fraction of the image on blobs),
        ``density`` (blobs, i.e. local maxima of the response, per ``S²``)
        and ``scale`` (their mean σ as a fraction of ``S``, each weighted by
        its area ``π(1.6σ)²``; 0 without blobs).
    """
    rgb = working_copy(img)
    y = luminance(rgb)
    whitish = (rgb.max(axis=2) - rgb.min(axis=2)) < SNOW_MAX_SATURATION
    side = min(y.shape)
    on_blob = np.zeros(y.shape, bool)
    count, area, weighted = 0, 0.0, 0.0
    for frac in SNOW_SCALES:
        sigma = max(0.5, frac * side)
        dog = (cv2.GaussianBlur(y, (0, 0), sigma) -
               cv2.GaussianBlur(y, (0, 0), _DOG_K * sigma))
        strong = (dog > SNOW_BLOB_THRESHOLD) & whitish
        on_blob |= strong
        k = 2 * int(np.ceil(sigma)) + 1
        peaks = int((strong & (dog >= cv2.dilate(dog, np.ones(
            (k, k), np.uint8)))).sum())
        count += peaks
        area += peaks * np.pi * (_DOG_K * sigma)**2
        weighted += peaks * np.pi * (_DOG_K * sigma)**2 * sigma / side
    return dict(cover=float(on_blob.mean()),
                density=count * side**2 / y.size,
                scale=weighted / area if area > 0 else 0.0)


def snow_severity(img: np.ndarray) -> float:
    """Snow severity from the area of whitish blobs (formula in the module
    docstring).

    Args:
        img (np.ndarray): (H, W, 3) RGB, uint8 or float in [0, 1].

    Returns:
        float: In [0, 1].
    """
    return float(1 - np.exp(-snow_blobs(img)['cover'] / SNOW_COVER_REF))


#: Estimator per degradation, under the names ``meta.jsonl`` uses.
SEVERITY_ESTIMATORS = dict(
    haze=haze_severity, rain=rain_severity, snow=snow_severity)
