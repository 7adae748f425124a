"""Alignment check of a degraded image against its clean target by phase
correlation.

With ``F_a``, ``F_b`` the Fourier transforms of the two (Hann-windowed,
mean-removed) luminances, the normalised cross-power spectrum
``R = F_b · conj(F_a) / |F_b · conj(F_a)|`` of a pure translation
``b(x) = a(x − s)`` is ``exp(−2πi k·s / N)``, whose inverse transform ``r``
is an impulse at ``s``. ``R`` is weighted by a Gaussian low-pass
``exp(−|f|² / (2·LOWPASS_CYCLES²))`` (``f`` in cycles per pixel), since
whitening lifts the highest frequencies, where resampling and noise
corrupt the phase, and biases the sub-pixel position (about 0.1 px without
it, 0.05 px at most with it, on resampled shifts). The integer peak of
``r`` is refined by evaluating the inverse transform on a grid of
``1 / UPSAMPLE`` pixel around it (matrix-multiply DFT, Guizar-Sicairos et
al. 2008), so the estimate is sub-pixel. Phase correlation ignores global
contrast and brightness, so haze, which mostly lowers contrast, does not
bias it; rain and snow add energy at high frequencies but do not move the
peak. Images larger than :data:`ALIGNMENT_WINDOW` on a side are compared
on their central window at full resolution.
"""
from typing import Dict, Tuple

import cv2
import numpy as np

from .severity import luminance

#: Largest side compared (the central crop of larger images).
ALIGNMENT_WINDOW = 1024
#: Default largest shift, pixels, of an aligned pair.
MAX_SHIFT_PX = 1.0
#: Grid steps per pixel of the sub-pixel refinement.
UPSAMPLE = 20
#: σ of the Gaussian weight of the cross-power spectrum, cycles per pixel.
LOWPASS_CYCLES = 0.15


def _centre(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = min(h, ALIGNMENT_WINDOW), min(w, ALIGNMENT_WINDOW)
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top:top + ch, left:left + cw]


def _spectrum(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    y = _centre(luminance(img)).astype(np.float64)
    return np.fft.fft2((y - y.mean()) * window)


def _dft_at(spectrum: np.ndarray, ys: np.ndarray,
            xs: np.ndarray) -> np.ndarray:
    """Inverse DFT of ``spectrum`` (without the 1/N) at real-valued
    positions ``ys`` × ``xs``; (len(ys), len(xs)) complex."""
    h, w = spectrum.shape
    ky = np.fft.fftfreq(h) * h
    kx = np.fft.fftfreq(w) * w
    rows = np.exp(2j * np.pi * np.outer(ys, ky) / h)
    cols = np.exp(2j * np.pi * np.outer(kx, xs) / w)
    return rows @ spectrum @ cols


def _peak(corr: np.ndarray) -> Tuple[int, int]:
    h, w = corr.shape
    py, px = np.unravel_index(int(np.argmax(corr)), corr.shape)
    # indices past the middle are negative shifts
    return (py - h if py > h // 2 else py), (px - w if px > w // 2 else px)


def estimate_shift(reference: np.ndarray,
                   moving: np.ndarray) -> Dict[str, float]:
    """Translation of ``moving`` relative to ``reference``.

    Args:
        reference (np.ndarray): (H, W, 3) RGB, uint8 or float in [0, 1].
        moving (np.ndarray): (H, W, 3) RGB of the same size.

    Returns:
        dict: ``dx``, ``dy`` (pixels; ``moving(x + dx, y + dy) ≈
        reference(x, y)``), ``shift`` (``sqrt(dx² + dy²)``) and
        ``response`` (peak height relative to that of two identical
        images, in [0, 1]; low values mean
        the two images share little structure and the estimate is
        unreliable).

    Raises:
        ValueError: If the sizes differ.
    """
    if reference.shape != moving.shape:
        raise ValueError(f'images of different sizes: {reference.shape} '
                         f'and {moving.shape}')
    size = _centre(reference).shape[:2]
    window = cv2.createHanningWindow(size[::-1], cv2.CV_64F)
    cross = _spectrum(moving, window) * np.conj(_spectrum(reference, window))
    cross /= np.abs(cross) + 1e-12
    fy = np.fft.fftfreq(size[0])[:, None]
    fx = np.fft.fftfreq(size[1])[None, :]
    cross *= np.exp(-(fx**2 + fy**2) / (2 * LOWPASS_CYCLES**2))
    py, px = _peak(np.fft.ifft2(cross).real)
    grid = np.arange(-1.5, 1.5 + 1e-9, 1 / UPSAMPLE)
    fine = _dft_at(cross, py + grid, px + grid).real
    iy, ix = np.unravel_index(int(np.argmax(fine)), fine.shape)
    dy, dx = py + grid[iy], px + grid[ix]
    # the peak of two identical images is the sum of the weights
    response = fine[iy, ix] / np.abs(cross).sum()
    return dict(dx=float(dx), dy=float(dy), shift=float(np.hypot(dx, dy)),
                response=float(response))


def check_alignment(lq: np.ndarray, gt: np.ndarray,
                    max_shift: float = MAX_SHIFT_PX) -> Dict[str, object]:
    """Whether a degraded image is aligned with its target.

    Args:
        lq (np.ndarray): Degraded image, (H, W, 3) RGB.
        gt (np.ndarray): Clean target, (H, W, 3) RGB.
        max_shift (float): Largest shift in pixels still aligned. Defaults
            to :data:`MAX_SHIFT_PX`.

    Returns:
        dict: The keys of :func:`estimate_shift` (``gt`` is the reference)
        and ``aligned`` (``shift <= max_shift``).
    """
    out: Dict[str, object] = dict(estimate_shift(gt, lq))
    out['aligned'] = bool(out['shift'] <= max_shift)
    return out
