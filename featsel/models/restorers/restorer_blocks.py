"""Convolutional blocks of :class:`GlobalLocalRestorer`: a residual block
and one encoder and one decoder level.

Each module states its ``receptive_radius``: how many pixels of its own
input grid an output pixel depends on beyond the cell it covers, so the
backbone can size the halo of crop-wise encoding and the overlap of
tile-wise decoding.
"""
from typing import Optional

import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn


def _masked(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    return x if mask is None else x * mask


class ConvResBlock(nn.Module):
    """``y = x + conv_k(act(conv_k(x)))``, no normalisation.

    With a ``mask`` (1 inside the image, 0 outside) every intermediate map
    is multiplied by it, which makes a crop with a halo compute what the
    block computes on the whole image with zero padding (see
    :class:`~featsel.models.restorers.GlobalLocalRestorer`).

    Args:
        channels (int): Channels ``C`` (in = out).
        kernel_size (int): Kernel size ``k`` (odd). Defaults to 3.
        act_cfg (dict): Activation config. Defaults to ``dict(type='GELU')``.
    """

    def __init__(self, channels: int, kernel_size: int = 3,
                 act_cfg: dict = dict(type='GELU')) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=pad)
        self.act = build_activation_layer(dict(act_cfg))
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=pad)
        self.receptive_radius = 2 * pad

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Args: x (Tensor): (B, C, H, W); mask (Tensor, optional):
        (B, 1, H, W). Returns: (B, C, H, W)."""
        h = _masked(self.act(self.conv1(x)), mask)
        return _masked(x + self.conv2(h), mask)


class EncoderLevel(nn.Module):
    """Halves the resolution: ``block(act(conv3x3_stride2(x)))``.

    The block is kept apart (``self.block``) so an adapter can wrap it.
    Receptive radius in input pixels: ``1 + 2 * block radius``.

    Args:
        in_channels (int): Input channels.
        channels (int): Output channels.
        act_cfg (dict): Activation config.
    """

    def __init__(self, in_channels: int, channels: int,
                 act_cfg: dict = dict(type='GELU')) -> None:
        super().__init__()
        self.down = nn.Conv2d(in_channels, channels, 3, stride=2, padding=1)
        self.act = build_activation_layer(dict(act_cfg))
        self.block = ConvResBlock(channels, 3, act_cfg)
        self.receptive_radius = 1 + 2 * self.block.receptive_radius

    def downsample(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Args: x (Tensor): (B, C_in, H, W); mask: (B, 1, H/2, W/2).
        Returns: (B, C, H/2, W/2), before the block."""
        return _masked(self.act(self.down(x)), mask)


class DecoderLevel(nn.Module):
    """Fuses a coarser map into a skip map, then refines it.

    ``fuse(h, s) = nearest_up_f(W h) + P s``: a 1x1 conv ``W`` to
    ``channels``, nearest-neighbour upsampling by ``f`` (both pointwise per
    cell, so the level stays local), plus the skip ``s`` (taken as is, or
    through a ``k x k`` conv ``P`` when ``skip_channels`` is given, e.g.
    the image at full resolution). The block (``self.block``, which an
    adapter may wrap) refines the sum.

    Args:
        in_channels (int): Channels of the coarser map ``h``.
        channels (int): Channels of the level.
        scale (int): Upsampling factor ``f`` of ``h``.
        kernel_size (int): Kernel size of the block (and of ``P``); 1 makes
            the level pointwise.
        skip_channels (int, optional): Channels of a skip that needs a
            projection; None when the skip has ``channels`` already.
        act_cfg (dict): Activation config.
    """

    def __init__(self, in_channels: int, channels: int, scale: int,
                 kernel_size: int = 3, skip_channels: Optional[int] = None,
                 act_cfg: dict = dict(type='GELU')) -> None:
        super().__init__()
        self.scale = scale
        self.lateral = nn.Conv2d(in_channels, channels, 1)
        self.skip = None if skip_channels is None else nn.Conv2d(
            skip_channels, channels, kernel_size, padding=kernel_size // 2)
        self.block = ConvResBlock(channels, kernel_size, act_cfg)

    def fuse(self, h: Tensor, skip: Tensor) -> Tensor:
        """Args: h (Tensor): (B, C_in, H/f, W/f); skip (Tensor):
        (B, C or skip_channels, H, W). Returns: (B, C, H, W)."""
        up = F.interpolate(self.lateral(h), scale_factor=self.scale,
                           mode='nearest')
        return up + (skip if self.skip is None else self.skip(skip))
