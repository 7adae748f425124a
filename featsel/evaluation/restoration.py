"""Full-reference image quality: PSNR and SSIM, one torch implementation for
metrics (float64) and losses (differentiable, any float dtype).

Images are ``(B, C, H, W)`` (or one ``(C, H, W)`` image) with values in
``[0, data_range]``. Definitions (Wang et al. 2004 for SSIM):

* ``PSNR = 10 log10(data_range^2 / MSE)``, the MSE over all pixels and
  channels of an image. The MSE is floored at ``1e-10 * data_range^2``, so
  identical images score 100 dB instead of infinity and means stay finite.
* ``SSIM``: local means, variances and covariance under a Gaussian window
  (``sigma = 1.5``, radius ``int(truncate * sigma + 0.5)`` = 5, i.e. 11 x 11
  for ``truncate = 3.5``), population (biased) covariances, and
  ``S = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)
  (s_x^2 + s_y^2 + C2))`` with ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2``,
  ``K1 = 0.01``, ``K2 = 0.03``, ``L = data_range``. The map is computed
  only where the window fits inside the image (no padding), and an image's
  SSIM is the mean of its map over pixels and channels.

This is the definition of scikit-image's ``structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1, channel_axis=-1)``, which filters the padded image and then
drops a border of the window radius: the same numbers (tests check 1e-6).

``crop_border`` removes that many pixels from every side before scoring,
the usual convention of restoration benchmarks.
"""
from typing import Dict, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

ArrayLike = Union[Tensor, np.ndarray]

#: MSE floor relative to ``data_range^2`` (PSNR of identical images: 100 dB)
MSE_FLOOR = 1e-10


def gaussian_kernel1d(sigma: float, truncate: float = 3.5,
                      dtype: torch.dtype = torch.float64,
                      device=None) -> Tensor:
    """Normalised 1-D Gaussian ``exp(-x^2 / (2 sigma^2))``, ``|x| <= r``.

    Args:
        sigma (float): Standard deviation in pixels.
        truncate (float): Radius ``r = int(truncate * sigma + 0.5)``, as
            ``scipy.ndimage.gaussian_filter``.

    Returns:
        Tensor: ``(2r + 1,)``, sums to one.
    """
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (x / sigma)**2)
    return kernel / kernel.sum()


def separable_filter(x: Tensor, kernel: Tensor,
                     padding: str = 'valid') -> Tensor:
    """Filter every channel with ``kernel`` along H, then along W.

    Args:
        x (Tensor): ``(B, C, H, W)``.
        kernel (Tensor): ``(K,)`` 1-D kernel, ``K`` odd.
        padding (str): ``'valid'``: output ``(B, C, H - K + 1, W - K + 1)``
            (only positions where the kernel fits); ``'replicate'``: same
            size, the border pixels repeated.

    Returns:
        Tensor: The filtered channels.
    """
    channels, size = x.shape[1], kernel.numel()
    if padding == 'replicate':
        r = size // 2
        x = F.pad(x, (r, r, r, r), mode='replicate')
    elif padding != 'valid':
        raise ValueError(f"padding must be 'valid' or 'replicate', not "
                         f'{padding!r}')
    kernel = kernel.to(x)
    x = F.conv2d(x, kernel.view(1, 1, size, 1).expand(channels, 1, size, 1),
                 groups=channels)
    return F.conv2d(x, kernel.view(1, 1, 1, size).expand(channels, 1, 1,
                                                         size),
                    groups=channels)


def _batch(x: Tensor, y: Tensor, crop_border: int) -> tuple:
    """Both images as ``(B, C, H, W)``, cropped; shapes must agree."""
    if x.shape != y.shape:
        raise ValueError(f'images differ in shape: {tuple(x.shape)} and '
                         f'{tuple(y.shape)}')
    if x.dim() == 3:
        x, y = x[None], y[None]
    if x.dim() != 4:
        raise ValueError('images must be (C, H, W) or (B, C, H, W), got '
                         f'{tuple(x.shape)}')
    if crop_border < 0:
        raise ValueError(f'crop_border must be >= 0, got {crop_border}')
    if crop_border:
        if min(x.shape[-2:]) <= 2 * crop_border:
            raise ValueError(f'crop_border={crop_border} leaves nothing of '
                             f'a {tuple(x.shape[-2:])} image')
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
        y = y[..., crop_border:-crop_border, crop_border:-crop_border]
    return x, y


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0,
         crop_border: int = 0) -> Tensor:
    """Peak signal-to-noise ratio per image (see the module docstring).

    Args:
        x, y (Tensor): ``(B, C, H, W)`` or ``(C, H, W)``.
        data_range (float): Value range ``L`` of the images.
        crop_border (int): Pixels dropped on every side first.

    Returns:
        Tensor: ``(B,)`` PSNR in dB (``(1,)`` for one image).
    """
    x, y = _batch(x, y, crop_border)
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(
        data_range**2 / mse.clamp_min(MSE_FLOOR * data_range**2))


def ssim_map(x: Tensor, y: Tensor, data_range: float = 1.0,
             sigma: float = 1.5, truncate: float = 3.5, k1: float = 0.01,
             k2: float = 0.03) -> Tensor:
    """SSIM at every position where the Gaussian window fits.

    Args:
        x, y (Tensor): ``(B, C, H, W)``.
        data_range (float): Value range ``L``.
        sigma (float): Window standard deviation.
        truncate (float): Window radius in standard deviations.
        k1, k2 (float): Stabilising constants.

    Returns:
        Tensor: ``(B, C, H - 2r, W - 2r)``, ``r`` the window radius.
    """
    kernel = gaussian_kernel1d(sigma, truncate, x.dtype, x.device)
    if min(x.shape[-2:]) < kernel.numel():
        raise ValueError(f'SSIM needs images of at least {kernel.numel()} '
                         f'pixels per side, got {tuple(x.shape[-2:])}')
    c1, c2 = (k1 * data_range)**2, (k2 * data_range)**2
    # one filter call for the five local moments
    moments = separable_filter(torch.cat([x, y, x * x, y * y, x * y], 1),
                               kernel)
    mu_x, mu_y, xx, yy, xy = moments.chunk(5, dim=1)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2) /
            ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)))


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0,
         crop_border: int = 0) -> Tensor:
    """Mean SSIM per image (see the module docstring).

    Args:
        x, y (Tensor): ``(B, C, H, W)`` or ``(C, H, W)``.
        data_range (float): Value range ``L``.
        crop_border (int): Pixels dropped on every side first.

    Returns:
        Tensor: ``(B,)`` SSIM, 1 for identical images.
    """
    x, y = _batch(x, y, crop_border)
    return ssim_map(x, y, data_range).flatten(1).mean(1)


def as_chw_float64(image: ArrayLike, name: str = 'image') -> Tensor:
    """An RGB image as a ``(3, H, W)`` float64 CPU tensor.

    Args:
        image (Tensor | np.ndarray): ``(3, H, W)`` with values in [0, 1].
        name (str): Field name for error messages.
    """
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, Tensor):
        raise TypeError(f'{name} must be a tensor or array, got '
                        f'{type(image).__name__}')
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f'{name} must be (3, H, W) RGB, got shape '
                         f'{tuple(image.shape)}')
    return image.detach().to('cpu', torch.float64)


def image_quality(pred: ArrayLike, gt: ArrayLike,
                  crop_border: int = 0) -> Dict[str, float]:
    """PSNR and SSIM of one RGB image in float64, data range 1.

    Args:
        pred (Tensor | np.ndarray): ``(3, H, W)`` in [0, 1].
        gt (Tensor | np.ndarray): ``(3, H, W)`` in [0, 1].
        crop_border (int): Pixels dropped on every side first.

    Returns:
        dict: ``{'psnr': dB, 'ssim': value}``.
    """
    x, y = as_chw_float64(pred, 'pred'), as_chw_float64(gt, 'gt')
    return dict(psnr=psnr(x, y, crop_border=crop_border).item(),
                ssim=ssim(x, y, crop_border=crop_border).item())
