r"""Restoration at any size: "global, then tile" (SPEC S3).

:func:`restore` runs the encoder and the global bottleneck of a
:class:`~featsel.models.restorers.GlobalLocalRestorer` once over the whole
image (crop mini-batches keep their memory bounded), keeps the result
(:class:`~featsel.models.restorers.RestorerCache`), and runs the decoder
(with the task's adapters) tile by tile, blending overlapping tiles:

.. math::

    y(p) = \frac{\sum_k w_k(p)\, y_k(p)}{\sum_k w_k(p)}

with :math:`y_k` the decoded tile ``k`` and :math:`w_k` its window placed
at the tile: ``'hann'``, the outer product of two symmetric Hann windows
(``torch.hann_window(n, periodic=False)``, i.e. :math:`\sin^2(\pi i/(n-1))`),
each clamped to at least ``1e-3`` so that corners and image borders keep
weight (:func:`blend_window`);
or ``'uniform'``, all ones (plain averaging). The denominator normalises
the weights to sum to one at every pixel, so a constant tile output comes
out unchanged and, for a decoder whose output does not depend on the
tiling (a pointwise decoder), the blended image equals the untiled one.

**Grid** (:func:`tile_grid`). Along each axis of length ``L`` (padded
image) the number of tiles is ``n = ceil((L - o) / (T - o))`` for tile
``T`` and overlap ``o``; the tiles are then made as small as that number
allows, ``S = ceil((L + (n - 1) o) / n)`` rounded up to the token stride,
and placed every ``S - o`` pixels with the last one flush with the end
(MONAI's ``sliding_window_inference`` grid for ROI ``S`` and interval
``S - o``). A 1024-pixel side with ``T = 512, o = 64`` gets three 384-pixel
tiles instead of three 512-pixel ones.

**Context.** A tile decoded from the cache cut to the tile alone sees zero
padding at its inner borders, so its pixels within the decoder's receptive
radius of them differ from an untiled decode; overlap and blending soften
this (the tile penalty). ``context=c`` decodes each tile from the cache cut
to the tile grown by ``c`` pixels and drops the margin; with ``c`` at least
the receptive radius (``context=None``) every tile is exact, and the
blended image equals the untiled one whatever the overlap and blend.
"""
import os
import os.path as osp
from typing import Callable, List, Optional, Tuple, Union

import mmcv
import numpy as np
import torch
from torch import Tensor, nn

from ..models.restorers import GlobalLocalRestorer, RestorerCache
from ..utils import ConfigError, DataError

BLENDS = ('hann', 'uniform')
#: smallest Hann weight, so a tile's border pixels still count
HANN_FLOOR = 1e-3
ImageInput = Union[str, os.PathLike, np.ndarray, Tensor]
Region = Tuple[int, int, int, int]


def find_restorer(model: nn.Module) -> GlobalLocalRestorer:
    """The backbone of ``model``: the model itself or its ``.backbone``.

    Raises:
        TypeError: Neither is a ``GlobalLocalRestorer``.
    """
    for candidate in (model, getattr(model, 'backbone', None)):
        if isinstance(candidate, GlobalLocalRestorer):
            return candidate
    raise TypeError(f'{type(model).__name__} is not a GlobalLocalRestorer '
                    'and has no .backbone that is one')


def tile_grid(length: int, tile: int, overlap: int,
              align: int) -> Tuple[int, List[int]]:
    """Tile size and start positions along one axis (module docstring).

    Args:
        length (int): Axis length (a multiple of ``align``).
        tile (int): Largest tile ``T`` (a multiple of ``align``).
        overlap (int): Overlap ``o`` of neighbouring tiles (a multiple of
            ``align``, ``0 <= o < T``).
        align (int): What sizes and starts must be multiples of.

    Returns:
        tuple[int, list[int]]: Tile size ``S <= T`` and the starts.
    """
    for name, value in (('tile', tile), ('overlap', overlap)):
        if value % align:
            raise ConfigError(f'{name}={value} must be a multiple of the '
                              f'token stride {align}')
    if not 0 <= overlap < tile:
        raise ConfigError(f'overlap={overlap} must lie in [0, tile={tile})')
    if length <= tile:
        return length, [0]
    num = -(-(length - overlap) // (tile - overlap))
    size = -(-(length + (num - 1) * overlap) // num)
    size = -(-size // align) * align
    step = size - overlap
    count = -(-(length - size) // step) + 1
    return size, [min(i * step, length - size) for i in range(count)]


def check_blend(blend: str) -> None:
    """Raise ConfigError unless ``blend`` is one of :data:`BLENDS`."""
    if blend not in BLENDS:
        raise ConfigError(f'blend must be one of {BLENDS}, got "{blend}"')


def blend_window(height: int, width: int, blend: str = 'hann',
                 device: Optional[torch.device] = None) -> Tensor:
    """The weights of one tile, (height, width).

    ``'hann'``: ``outer(max(hann(height), f), max(hann(width), f))`` of
    symmetric Hann windows, each clamped to at least ``f =``
    :data:`HANN_FLOOR` before the product, so every pixel keeps a weight
    (corners ``f^2``). Clamping the product instead would give the rows
    and columns along the image border the same weight ``f`` in every tile,
    i.e. plain averaging there and seams where tiles meet the border.
    ``'uniform'``: ones.
    """
    check_blend(blend)
    if blend == 'uniform':
        return torch.ones(height, width, device=device)
    rows = torch.hann_window(height, periodic=False, device=device)
    cols = torch.hann_window(width, periodic=False, device=device)
    return torch.outer(rows.clamp_min(HANN_FLOOR), cols.clamp_min(HANN_FLOOR))


def tile_regions(height: int, width: int, tile: int, overlap: int,
                 align: int) -> List[Region]:
    """``(y0, y1, x0, x1)`` of every tile of a ``height x width`` image, in
    row-major order; all tiles have one size."""
    size_h, rows = tile_grid(height, tile, overlap, align)
    size_w, cols = tile_grid(width, tile, overlap, align)
    return [(y, y + size_h, x, x + size_w) for y in rows for x in cols]


def blend_tiles(decode: Callable[[Region], Tensor], height: int, width: int,
                tile: int, overlap: int, align: int,
                blend: str = 'hann') -> Tensor:
    """Blend the tiles ``decode(region)`` of a ``height x width`` image.

    Args:
        decode (Callable): ``(y0, y1, x0, x1) -> (B, C, y1 - y0, x1 - x0)``.
        height (int): Image height (a multiple of ``align``).
        width (int): Image width (a multiple of ``align``).
        tile (int): Largest tile side.
        overlap (int): Overlap of neighbouring tiles.
        align (int): Alignment of sizes and starts.
        blend (str): ``'hann'`` or ``'uniform'``.

    Returns:
        Tensor: (B, C, height, width), the normalised weighted sum.
    """
    regions = tile_regions(height, width, tile, overlap, align)
    out = total = window = None
    for y0, y1, x0, x1 in regions:
        part = decode((y0, y1, x0, x1))
        if out is None:
            out = part.new_zeros(*part.shape[:2], height, width)
            total = part.new_zeros(height, width)
            window = blend_window(y1 - y0, x1 - x0, blend,
                                  part.device).to(part.dtype)
        out[..., y0:y1, x0:x1] += part * window
        total[y0:y1, x0:x1] += window
    return out / total


def resolve_context(backbone: GlobalLocalRestorer, context: Optional[int],
                    task: Optional[str] = None) -> int:
    """The context margin of each tile: ``context`` itself (a multiple of
    the token stride), or, for None, the decoder's receptive radius with
    ``task``'s adapters rounded up to the token stride (exact tiles)."""
    align = backbone.token_stride
    if context is None:
        radius = backbone.receptive_radius(task)
        return -(-radius // align) * align
    if context < 0 or context % align:
        raise ConfigError(f'context={context} must be a non-negative '
                          f'multiple of the token stride {align} (or None)')
    return context


def tiled_decode(backbone: GlobalLocalRestorer, cache: RestorerCache,
                 adapter_task: Optional[str] = None, tile: int = 512,
                 overlap: int = 64, blend: str = 'hann',
                 context: Optional[int] = 0) -> Tensor:
    """Decode a cache tile by tile and blend.

    Each tile is decoded from the cache cut to the tile grown by
    ``context`` pixels on every side (within the image), and the margin is
    dropped. With ``context=0`` a tile's pixels near its inner borders see
    zero padding and the blending hides that; with a context of at least
    :meth:`~GlobalLocalRestorer.receptive_radius` every tile equals the
    untiled decode on its pixels, for any ``overlap`` and ``blend``.

    Args:
        backbone (GlobalLocalRestorer): The backbone that made ``cache``.
        cache (RestorerCache): From ``backbone.encode``.
        adapter_task (str, optional): Task whose decoder adapters run.
        tile (int): Largest tile side. Defaults to 512.
        overlap (int): Overlap of neighbouring tiles. Defaults to 64.
        blend (str): ``'hann'`` or ``'uniform'``. Defaults to ``'hann'``.
        context (int, optional): Context margin (a multiple of the token
            stride); None: the receptive radius rounded up. Defaults to 0.

    Returns:
        Tensor: (B, C, H_p, W_p), the padded image (crop to
        ``cache.size`` for the input's extent).
    """
    height, width = cache.padded_size
    margin = resolve_context(backbone, context, adapter_task)

    def decode(region: Region) -> Tensor:
        y0, y1, x0, x1 = region
        top, left = max(0, y0 - margin), max(0, x0 - margin)
        grown = (top, min(height, y1 + margin), left,
                 min(width, x1 + margin))
        out = backbone.decode(cache, grown, adapter_task)
        return out[..., y0 - top:y1 - top, x0 - left:x1 - left]

    return blend_tiles(decode, height, width, tile, overlap,
                       backbone.token_stride, blend)


def restore_tensor(backbone: GlobalLocalRestorer, x: Tensor,
                   task: Optional[str] = None, tile: int = 512,
                   overlap: int = 64, blend: str = 'hann',
                   context: Optional[int] = 0) -> Tensor:
    """:func:`restore` on a (B, C, H, W) tensor in [0, 1], no gradient;
    returns (B, C, H, W) on the input's device."""
    device = backbone.head.weight.device
    with torch.no_grad():
        cache = backbone.encode(x.to(device), task)
        y = tiled_decode(backbone, cache, task, tile, overlap, blend,
                         context)
    height, width = cache.size
    return y[..., :height, :width].to(x.device)


def _as_tensor(image: ImageInput) -> Tuple[Tensor, bool]:
    """``image`` as (B, C, H, W) float in [0, 1], and whether it was uint8
    (an array or a file)."""
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'image file "{path}" does not exist')
        image = mmcv.imread(path, channel_order='rgb')
        if image is None:
            raise DataError(f'cannot read image "{path}"')
    if isinstance(image, Tensor):
        if image.dim() not in (3, 4) or not image.is_floating_point():
            raise DataError('a tensor image must be float (C, H, W) or (B, '
                            f'C, H, W) in [0, 1], got {image.dtype} '
                            f'{tuple(image.shape)}')
        return (image if image.dim() == 4 else image[None]).float(), False
    if not isinstance(image, np.ndarray) or image.ndim != 3:
        raise DataError('an array image must be (H, W, C) (uint8, or float '
                        f'in [0, 1]), got {type(image).__name__} '
                        f'{getattr(image, "shape", "")}')
    is_uint8 = image.dtype == np.uint8
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    x = x.float() / 255 if is_uint8 else x.float()
    return x[None], is_uint8


def restore(model: nn.Module, image: ImageInput, task: Optional[str] = None,
            tile: int = 512, overlap: int = 64, blend: str = 'hann',
            context: Optional[int] = 0) -> np.ndarray:
    """Restore one image: encoder and bottleneck once over the whole image,
    decoder and adapters tile by tile (module docstring).

    Args:
        model (nn.Module): A :class:`GlobalLocalRestorer` or a model with
            one as ``.backbone``; used as it is (put it in eval mode).
        image (str | PathLike | np.ndarray | Tensor): An image file (read
            as RGB), an (H, W, 3) RGB array (uint8, or float in [0, 1]), or
            a float tensor (3, H, W) / (B, 3, H, W) in [0, 1].
        task (str, optional): Adapter task (None: the backbone alone).
        tile (int): Largest tile side, a multiple of the token stride.
            Defaults to 512.
        overlap (int): Overlap of neighbouring tiles, a multiple of the
            token stride. Defaults to 64.
        blend (str): ``'hann'`` or ``'uniform'``. Defaults to ``'hann'``.
        context (int, optional): Context margin decoded around each tile
            and dropped (:func:`tiled_decode`); None makes every tile exact
            (then ``overlap=0`` is the cheapest). Defaults to 0.

    Returns:
        np.ndarray: The restored image, channels last, clipped to the
        input's range: uint8 for uint8 arrays and files, float32 in [0, 1]
        otherwise; (B, H, W, C) for a batched tensor.

    Raises:
        FileNotFoundError: The image file does not exist.
        DataError: The image has an unsupported type or shape.
        ConfigError: ``tile``, ``overlap``, ``blend`` or ``task`` is wrong.
    """
    backbone = find_restorer(model)
    check_blend(blend)
    x, is_uint8 = _as_tensor(image)
    y = restore_tensor(backbone, x, task, tile, overlap, blend, context)
    y = y.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    if is_uint8:
        return (y[0] * 255).round().astype(np.uint8)
    batched = isinstance(image, Tensor) and image.dim() == 4
    return (y if batched else y[0]).astype(np.float32)
