"""Losses of image restoration (SPEC S3): pixel, structure, edge, rain
direction, perceptual and snow-weighted terms.

Every loss here is called as ``loss(pred, target, lq=None)`` with
``pred`` the restored image, ``target`` the clean image and ``lq`` the
degraded input, all ``(B, 3, H, W)`` RGB in [0, 1], and returns
``loss_weight * value`` as a scalar. Only :class:`RainDirectionLoss` and
:class:`SnowMaskWeightedLoss` need ``lq``. Task recipes (SPEC S3): dehaze
Charbonnier + SSIM (0.05); derain Charbonnier + Sobel edge (0.05) + rain
direction (0.02); desnow snow-weighted Charbonnier + LPIPS (0.05).
"""
import warnings
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import LOSSES
from ..base import BaseLoss, Example

_EPS = 1e-8


def _images(b: int = 2, size: int = 24, seed: int = 0):
    """(pred, target, lq) of the examples: a clean image, a brighter
    degraded one with bright blobs, and a prediction between them."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 3, size, size, generator=g)
    lq = (target + 0.3 * torch.rand(b, 1, size, size, generator=g)).clamp(
        0, 1)
    return (target + lq) / 2, target, lq


def _example_run(module) -> Tensor:
    return module(*_images())


def luminance(x: Tensor) -> Tensor:
    """Channel mean ``(B, 1, H, W)`` of ``(B, C, H, W)`` images."""
    return x.mean(1, keepdim=True)


def sobel(x: Tensor) -> Tensor:
    """Sobel derivatives of every channel, replicate padding.

    Kernels ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] / 8`` (d/dx) and its
    transpose (d/dy), so a unit ramp has derivative 1.

    Args:
        x (Tensor): ``(B, C, H, W)``.

    Returns:
        Tensor: ``(B, 2, C, H, W)``: ``[d/dx, d/dy]``.
    """
    channels = x.shape[1]
    kx = x.new_tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]) / 8
    kernel = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(channels, 1, 1,
                                                           1)
    grad = F.conv2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), kernel,
                    groups=channels)
    return grad.view(x.shape[0], channels, 2, *x.shape[-2:]).transpose(1, 2)


def _lazy(module: str):
    """A module of :mod:`featsel.evaluation`, imported on first use:
    ``featsel.evaluation`` imports ``featsel.models`` (the task-kind table),
    so importing it while ``featsel.models`` loads would be circular."""
    import importlib
    return importlib.import_module(f'featsel.evaluation.{module}')


class RestorationLoss(BaseLoss):
    """Base of the restoration losses: ``forward(pred, target, lq=None)``
    returns ``loss_weight * value(pred, target, lq)``.

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Key in the loss dict.
    """

    example = Example(args=dict(loss_weight=1.0), run=_example_run)

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_restoration') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, pred: Tensor, target: Tensor,
                lq: Optional[Tensor] = None) -> Tensor:
        """Args: pred, target (Tensor): (B, 3, H, W) in [0, 1]; lq
        (Tensor, optional): (B, 3, H, W) degraded input. Returns: a
        scalar."""
        if pred.shape != target.shape:
            raise ValueError(f'{type(self).__name__}: pred {tuple(pred.shape)}'
                             f' and target {tuple(target.shape)} differ')
        if lq is not None and lq.shape != target.shape:
            raise ValueError(f'{type(self).__name__}: lq {tuple(lq.shape)} '
                             f'and target {tuple(target.shape)} differ')
        return self.loss_weight * self.value(pred, target, lq)

    def value(self, pred: Tensor, target: Tensor,
              lq: Optional[Tensor]) -> Tensor:
        raise NotImplementedError

    def _need_lq(self, lq: Optional[Tensor]) -> Tensor:
        if lq is None:
            raise ValueError(f'{type(self).__name__} needs the degraded '
                             'input: call it as loss(pred, target, lq=lq)')
        return lq


class PixelLoss(RestorationLoss):
    """A per-pixel penalty ``rho(pred - target)``, averaged over pixels and
    channels, optionally weighted per pixel: ``sum w rho / sum w`` with
    ``w (B, 1, H, W)`` broadcast over channels."""

    def penalty(self, diff: Tensor) -> Tensor:
        raise NotImplementedError

    def value(self, pred: Tensor, target: Tensor, lq: Optional[Tensor] = None,
              weight: Optional[Tensor] = None) -> Tensor:
        rho = self.penalty(pred - target)
        if weight is None:
            return rho.mean()
        weight = weight.expand_as(rho)
        return (weight * rho).sum() / weight.sum().clamp_min(_EPS)


@LOSSES.register_module()
class CharbonnierLoss(PixelLoss):
    """Charbonnier loss ``mean sqrt((pred - target)^2 + eps^2)``, a
    differentiable L1 (its minimum, at ``pred = target``, is ``eps``).

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        eps (float): Smoothing ``eps``. Defaults to 1e-3.
        loss_name (str): Defaults to ``'loss_charbonnier'``.
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-3,
                 loss_name: str = 'loss_charbonnier') -> None:
        super().__init__(loss_weight, loss_name)
        self.eps = eps

    def penalty(self, diff: Tensor) -> Tensor:
        return (diff * diff + self.eps**2).sqrt()


@LOSSES.register_module()
class PixelL1Loss(PixelLoss):
    """L1 loss ``mean |pred - target|`` with the restoration call
    signature (mmdet's ``L1Loss`` takes no ``lq`` and no per-pixel weight
    map, so it does not fit here).

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_l1'``.
    """

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_l1') -> None:
        super().__init__(loss_weight, loss_name)

    def penalty(self, diff: Tensor) -> Tensor:
        return diff.abs()


@LOSSES.register_module()
class SSIMLoss(RestorationLoss):
    """``1 - SSIM(pred, target)``, the SSIM of
    :mod:`featsel.evaluation.restoration` (Gaussian window sigma 1.5,
    data range 1), averaged over the batch. Images need at least 11 pixels
    per side.

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_ssim'``.
    """

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_ssim') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, pred: Tensor, target: Tensor,
              lq: Optional[Tensor]) -> Tensor:
        return 1 - _lazy('restoration').ssim(pred, target).mean()


@LOSSES.register_module()
class SobelEdgeLoss(RestorationLoss):
    """Edge loss: ``mean |G(pred) - G(target)|`` over the Sobel derivatives
    ``G = (d/dx, d/dy)`` of every channel (:func:`sobel`). Comparing the
    derivatives, not their magnitudes, also penalises edges of the right
    strength but the wrong orientation, and has no square root to blow up
    at flat regions.

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_edge'``.
    """

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_edge') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, pred: Tensor, target: Tensor,
              lq: Optional[Tensor]) -> Tensor:
        return (sobel(pred) - sobel(target)).abs().mean()


@LOSSES.register_module()
class RainDirectionLoss(RestorationLoss):
    """Rain direction consistency: the layer a derainer removes,
    ``R_hat = lq - pred``, should have the oriented structure of the true
    rain layer ``R = lq - target``.

    Orientation comes from the structure tensor of the layer's luminance
    ``L``: ``J = G_rho * [[Lx^2, LxLy], [LxLy, Ly^2]]`` (Sobel derivatives,
    Gaussian window ``rho``). Its doubled-angle vector ``u = (J11 - J22,
    2 J12)`` points at twice the dominant gradient angle (rain streaks run
    perpendicular to it), and its length ``lambda_1 - lambda_2`` is large
    only where the structure is oriented: isotropic texture and flat areas
    give ``u = 0``, and streaks at angles ``theta`` and ``theta + pi`` agree.
    Per image::

        L = sum_pixels |u(R_hat) - u(R)|_1 / (sum_pixels tr J(R) + eps)

    averaged over the batch. The normaliser makes the loss independent of
    the rain's contrast; ``|u| <= tr J`` bounds it by about 2 when nothing is
    removed (``pred = lq``). It is 0 when the removed layer has the rain
    layer's orientation field, and it penalises removing structure of other
    orientations (e.g. image edges) and leaving streaks behind.

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        window_sigma (float): ``rho`` of the structure tensor window in
            pixels. Defaults to 2.0.
        loss_name (str): Defaults to ``'loss_rain_direction'``.
    """

    def __init__(self, loss_weight: float = 1.0, window_sigma: float = 2.0,
                 loss_name: str = 'loss_rain_direction') -> None:
        super().__init__(loss_weight, loss_name)
        self.window_sigma = window_sigma

    def orientation(self, layer: Tensor) -> tuple:
        """Doubled-angle vectors and structure-tensor trace of a layer.

        Args:
            layer (Tensor): ``(B, C, H, W)``.

        Returns:
            tuple[Tensor, Tensor]: ``u (B, 2, H, W)``, ``tr J (B, 1, H, W)``.
        """
        gx, gy = sobel(luminance(layer)).unbind(1)
        restoration = _lazy('restoration')
        kernel = restoration.gaussian_kernel1d(
            self.window_sigma, dtype=layer.dtype, device=layer.device)
        j11, j22, j12 = restoration.separable_filter(
            torch.cat([gx * gx, gy * gy, gx * gy], 1), kernel,
            padding='replicate').chunk(3, 1)
        return torch.cat([j11 - j22, 2 * j12], 1), j11 + j22

    def value(self, pred: Tensor, target: Tensor,
              lq: Optional[Tensor]) -> Tensor:
        lq = self._need_lq(lq)
        u_pred, _ = self.orientation(lq - pred)
        u_rain, trace = self.orientation(lq - target)
        num = (u_pred - u_rain).abs().flatten(1).sum(1)
        return (num / (trace.flatten(1).sum(1) + _EPS)).mean()


@LOSSES.register_module()
class SnowMaskWeightedLoss(RestorationLoss):
    """A pixel loss weighted towards snow: ``sum w rho / sum w`` with
    ``w = 1 + mask_weight * m``.

    The snow map ``m`` in [0, 1] is a multi-scale difference-of-Gaussians
    blob response of the snow layer's luminance ``S = lum(lq - target)``
    (flakes are brighter than the scene): ``D_i = G_{s_i} * S - G_{s_i+1} *
    S`` for consecutive ``sigmas``, ``m = max_i max(D_i, 0)``, divided by
    its per-image maximum. It depends on the data only, so no gradient
    flows through it.

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        pixel_loss (dict): The per-pixel loss (a :class:`PixelLoss`, e.g.
            ``CharbonnierLoss`` or ``PixelL1Loss``); its own ``loss_weight``
            is not used. Defaults to ``dict(type='CharbonnierLoss')``.
        mask_weight (float): Extra weight of the strongest snow pixels.
            Defaults to 1.0 (they count twice).
        sigmas (Sequence[float]): Increasing Gaussian scales in pixels,
            at least two. Defaults to ``(1, 2, 4)`` (flakes of about 2-8
            px across).
        loss_name (str): Defaults to ``'loss_snow_weighted'``.
    """

    def __init__(self, loss_weight: float = 1.0,
                 pixel_loss: Union[dict, PixelLoss, None] = None,
                 mask_weight: float = 1.0,
                 sigmas: Sequence[float] = (1.0, 2.0, 4.0),
                 loss_name: str = 'loss_snow_weighted') -> None:
        super().__init__(loss_weight, loss_name)
        pixel_loss = pixel_loss or dict(type='CharbonnierLoss')
        self.pixel_loss = (pixel_loss if isinstance(pixel_loss, PixelLoss)
                           else LOSSES.build(pixel_loss))
        if not isinstance(self.pixel_loss, PixelLoss):
            raise TypeError(f'SnowMaskWeightedLoss.pixel_loss must be a '
                            f'per-pixel loss (CharbonnierLoss, PixelL1Loss),'
                            f' not {type(self.pixel_loss).__name__}')
        if len(sigmas) < 2 or list(sigmas) != sorted(sigmas):
            raise ValueError('SnowMaskWeightedLoss.sigmas must be at least '
                             f'two increasing scales, got {sigmas}')
        self.mask_weight = mask_weight
        self.sigmas = tuple(float(s) for s in sigmas)

    @torch.no_grad()
    def snow_map(self, lq: Tensor, target: Tensor) -> Tensor:
        """The snow map ``m`` ``(B, 1, H, W)`` in [0, 1]."""
        layer = luminance(lq - target)
        restoration = _lazy('restoration')
        blurred = [restoration.separable_filter(
            layer, restoration.gaussian_kernel1d(
                s, dtype=layer.dtype, device=layer.device),
            padding='replicate') for s in self.sigmas]
        dog = torch.stack([fine - coarse for fine, coarse in
                           zip(blurred[:-1], blurred[1:])]).amax(0)
        dog = dog.clamp_min(0)
        peak = dog.flatten(1).amax(1).view(-1, 1, 1, 1)
        return dog / peak.clamp_min(_EPS)

    def value(self, pred: Tensor, target: Tensor,
              lq: Optional[Tensor]) -> Tensor:
        weight = 1 + self.mask_weight * self.snow_map(self._need_lq(lq),
                                                      target)
        return self.pixel_loss.value(pred, target, weight=weight)


class _RandomWeightsExample:
    """The example of :class:`LPIPSLoss`: no weights ship with featsel, so
    reading it writes randomly initialised ones to a temporary folder
    (once per process)."""

    _example: Optional[Example] = None

    def __get__(self, obj, cls) -> Example:
        if self._example is None:
            import tempfile
            folder = tempfile.mkdtemp(prefix='lpips_example_')
            alexnet, lin = _lazy('lpips').write_random_lpips_weights(folder)
            type(self)._example = Example(
                args=dict(loss_weight=0.05, alexnet_path=alexnet,
                          lin_path=lin),
                run=lambda m: m(*_images(size=32)))
        return self._example


@LOSSES.register_module()
class LPIPSLoss(RestorationLoss):
    """Perceptual loss ``mean LPIPS(pred, target)`` (AlexNet v0.1,
    :class:`featsel.evaluation.lpips.LPIPS`) from local weight files.

    The LPIPS network is frozen and kept out of the loss's parameters and
    state dict (it is not saved in checkpoints); it follows ``pred`` to its
    device. Images need at least 32 pixels per side.

    Args:
        alexnet_path (str): torchvision ``alexnet`` state dict.
        lin_path (str): LPIPS v0.1 heads (``weights/v0.1/alex.pth`` of
            the lpips package).
        loss_weight (float): Multiplier. Defaults to 1.0.
        skip_missing (bool): When a weight file does not exist, warn (naming
            it) and return 0 instead of failing at build time, so a recipe
            with LPIPS still trains where the weights are absent. Defaults to
            False.
        loss_name (str): Defaults to ``'loss_lpips'``.
    """

    example = _RandomWeightsExample()

    def __init__(self, alexnet_path: str, lin_path: str,
                 loss_weight: float = 1.0, skip_missing: bool = False,
                 loss_name: str = 'loss_lpips') -> None:
        super().__init__(loss_weight, loss_name)
        lpips = _lazy('lpips')
        try:
            net = lpips.LPIPS.from_files(alexnet_path, lin_path)
        except FileNotFoundError as err:
            if not skip_missing:
                raise
            warnings.warn(f'LPIPSLoss is skipped (returns 0): {err}',
                          stacklevel=2)
            net = None
        # a tuple hides the frozen network from parameters() and state_dict
        self._net = (net, )

    @property
    def available(self) -> bool:
        """Whether the weights were found (else the loss is 0)."""
        return self._net[0] is not None

    def value(self, pred: Tensor, target: Tensor,
              lq: Optional[Tensor]) -> Tensor:
        net = self._net[0]
        if net is None:
            return pred.sum() * 0
        net.to(pred.device)
        return net(pred, target).mean()
