"""How :class:`GlobalLocalRestorer` cuts an image into crops, per axis."""
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


def align_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-value // multiple) * multiple


class AxisPlan(NamedTuple):
    """The crops along one image axis.

    Attributes:
        size (int): Length of the image.
        padded (int): Length after padding (``count * crop``).
        crop (int): Length of a crop.
        count (int): Crops along the axis.
        halo (int): Context added on both sides of each crop (0 when one
            crop covers the axis: there is nothing beside it).
    """

    size: int
    padded: int
    crop: int
    count: int
    halo: int


def plan_axis(size: int, crop_size: int, align: int, halo: int) -> AxisPlan:
    """Crops of ``crop_size`` along an axis of ``size`` pixels.

    An axis that fits one crop once padded to a multiple of ``align`` is one
    crop of that padded length (a 96-pixel training patch is not padded to
    256); a longer axis is padded to a multiple of ``crop_size``.

    Args:
        size (int): Length of the image.
        crop_size (int): Crop length (a multiple of ``align``).
        align (int): What the padded length must be a multiple of.
        halo (int): Context on each side of a crop when there are several.
    """
    fitted = align_up(size, align)
    if fitted <= crop_size:
        return AxisPlan(size, fitted, fitted, 1, 0)
    padded = align_up(size, crop_size)
    return AxisPlan(size, padded, crop_size, padded // crop_size, halo)


def inside(plan: AxisPlan, index: Tensor, stride: int) -> Tensor:
    """Which cells of crops (with their halo) lie inside the padded image.

    Args:
        plan (AxisPlan): The axis.
        index (Tensor): (n,) crop indices along the axis.
        stride (int): Stride of the map (its cells are ``stride`` pixels).

    Returns:
        Tensor: (n, (crop + 2 halo) / stride) float, 1 inside, 0 outside.
    """
    cells = torch.arange((plan.crop + 2 * plan.halo) // stride,
                         device=index.device)
    pos = index[:, None] * plan.crop - plan.halo + cells[None] * stride
    return ((pos >= 0) & (pos < plan.padded)).float()


def pad_to(x: Tensor, height: int, width: int) -> Tensor:
    """Pad (B, C, H, W) at the bottom and right to (height, width): mirror
    padding, or edge replication where the image is too small to mirror."""
    pad_h, pad_w = height - x.shape[-2], width - x.shape[-1]
    if not pad_h and not pad_w:
        return x
    mode = 'reflect' if pad_h < x.shape[-2] and pad_w < x.shape[-1] \
        else 'replicate'
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
