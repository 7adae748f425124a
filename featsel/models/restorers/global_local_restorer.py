r"""Restoration backbone with global context at any resolution (SPEC S3,
DehazeXL style), with per-task adapters and split encode / decode calls for
"global, then tile" inference.
"""
from dataclasses import dataclass
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ...utils import ConfigError
from ..builder import build_expert
from ..experts.adapters import BaseAdapter
from .crop_plan import AxisPlan, align_up, inside, pad_to, plan_axis
from .global_bottleneck import GlobalBottleneck
from .restorer_blocks import DecoderLevel, EncoderLevel

ADAPTER_POSITIONS = ('decoder', 'all')
Region = Tuple[int, int, int, int]


@dataclass
class RestorerCache:
    """What :meth:`GlobalLocalRestorer.encode` keeps for decoding.

    Attributes:
        image (Tensor): (B, C_in, H_p, W_p) the padded input.
        feats (list[Tensor]): Encoder maps ``(B, C_i, H_p / 2^i, W_p /
            2^i)``, i = 1..L.
        tokens (Tensor): (B, D, H_p / t, W_p / t) bottleneck output grid
            (``t`` = token stride).
        global_vec (Tensor): (B, D) mean of the bottleneck tokens.
        size (tuple[int, int]): (H, W) of the input before padding.
        task (str, optional): The adapter task the encoder ran with (only
            with ``adapter_position='all'``; None otherwise).
    """

    image: Tensor
    feats: List[Tensor]
    tokens: Tensor
    global_vec: Tensor
    size: Tuple[int, int]
    task: Optional[str] = None

    @property
    def padded_size(self) -> Tuple[int, int]:
        """(H_p, W_p)."""
        return tuple(self.image.shape[-2:])

    @property
    def nbytes(self) -> int:
        """Bytes held by the cache's tensors."""
        tensors = [self.image, self.tokens, self.global_vec, *self.feats]
        return sum(t.numel() * t.element_size() for t in tensors)


@MODELS.register_module()
class GlobalLocalRestorer(BaseModule):
    r"""Local encoder on crops, global transformer bottleneck, local decoder.

    **Encoder** (local, memory bounded). The input is padded (mirrored) to
    a multiple of ``crop_size`` -- or, when it fits one crop, only to a
    multiple of the token stride ``t`` -- and cut into crops that run
    through ``L = len(embed_dims)`` levels (stride-2 conv, residual block;
    map ``i`` at stride ``2^i``), ``crop_batch`` crops at a time. Each crop
    carries a halo of context (its receptive radius, rounded up to
    ``2^L``), and every map is multiplied by a 0/1 mask of the image area,
    which reproduces the zero padding of a whole-image pass. So the
    features do not depend on ``crop_size`` or ``crop_batch`` (no seams
    between crops), while the memory used at once is that of
    ``crop_batch`` crops at any image size.

    **Bottleneck** (global). The deepest map is average-pooled by
    ``token_pool`` to one token per ``t x t`` pixels
    (``t = 2^L * token_pool``, 32 by default: 8.6k tokens at 3840 x 2160)
    and a :class:`GlobalBottleneck` transformer attends over the tokens of
    the whole image. ``global_vec`` (B, D) is their mean.

    **Decoder** (local). From the token grid back to full resolution: at
    each level ``fuse`` (1x1 conv, nearest upsampling, plus the encoder map
    of that stride; the image through a conv at full resolution), then a
    residual block of ``decoder_kernel_size`` convs; a head conv and the
    global residual give ``y = x + head(d_0)``. An output pixel depends
    only on cached values within :meth:`receptive_radius` pixels of it
    (31 for 3x3 kernels and three levels: two convs per level at strides
    8, 4, 2, 1 and the head, ``2 (8 + 4 + 2 + 1) + 1``, plus what adapters
    add), and ``decoder_kernel_size=1`` makes the decoder pointwise. Tiles
    whose overlap is at least twice that radius therefore give every pixel
    a tile in which it is computed exactly.

    **Adapters** (:mod:`featsel.models.experts.adapters`) are registered
    per task (:meth:`register_adapter`) and chosen per call by
    ``adapter_task``; each wraps a block ("site"). With
    ``adapter_position='decoder'`` the sites are the decoder blocks
    ``dec{L}..dec0``, so the encoder and bottleneck are shared by every
    task and :meth:`encode` runs once for all of them; with ``'all'`` the
    encoder blocks ``enc1..enc{L}`` and the bottleneck output are sites
    too, and the cache belongs to one task.

    Calls: ``forward(x, return_global=True, adapter_task=None) -> (y,
    global_vec)``; ``encode(x, adapter_task) -> RestorerCache``;
    ``decode(cache, region, adapter_task) -> y`` of one region (tile) of the
    padded image. :meth:`layer_groups` lists the parts from input to
    output (for freezing the lower part).

    Inputs are images in [0, 1] with ``in_channels`` channels; the output
    lives in the same space (global residual).

    Args:
        in_channels (int): Image channels. Defaults to 3.
        embed_dims (Sequence[int]): Channels of the encoder levels at
            strides 2, 4, ..., 2^L. Defaults to (16, 32, 64).
        token_dims (int): Token width ``D`` of the bottleneck. Defaults to 64.
        token_pool (int): Pooling of the deepest map into tokens.
            Defaults to 4.
        num_layers (int): Bottleneck transformer layers. Defaults to 2.
        num_heads (int): Attention heads. Defaults to 4.
        mlp_ratio (float): Transformer MLP ratio. Defaults to 2.
        query_chunk (int): Queries per attention call. Defaults to 1024.
        crop_size (int): Crop side, a multiple of the token stride.
            Defaults to 256.
        crop_batch (int): Crops encoded at once. Defaults to 16.
        decoder_kernel_size (int): Kernel size of the decoder convs (odd);
            1 gives a pointwise decoder. Defaults to 3.
        act_cfg (dict): Activation config. Defaults to ``dict(type='GELU')``.
        adapter_position (str): ``'decoder'`` or ``'all'`` (see above).
            Defaults to ``'decoder'``.
        adapters (dict, optional): ``{task: adapter cfg}`` registered at
            construction (see :meth:`register_adapter`).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 3,
                 embed_dims: Sequence[int] = (16, 32, 64),
                 token_dims: int = 64,
                 token_pool: int = 4,
                 num_layers: int = 2,
                 num_heads: int = 4,
                 mlp_ratio: float = 2.0,
                 query_chunk: int = 1024,
                 crop_size: int = 256,
                 crop_batch: int = 16,
                 decoder_kernel_size: int = 3,
                 act_cfg: dict = dict(type='GELU'),
                 adapter_position: str = 'decoder',
                 adapters: Optional[Dict[str, dict]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.embed_dims = list(embed_dims)
        self.token_pool = token_pool
        self.token_stride = 2**len(self.embed_dims) * token_pool
        if not self.embed_dims:
            raise ConfigError('embed_dims must name at least one level')
        if adapter_position not in ADAPTER_POSITIONS:
            raise ConfigError(f'adapter_position must be one of '
                              f'{ADAPTER_POSITIONS}, got "{adapter_position}"')
        if crop_size < self.token_stride or crop_size % self.token_stride:
            raise ConfigError(
                f'crop_size {crop_size} must be a positive multiple of the '
                f'token stride {self.token_stride} (2^len(embed_dims) * '
                'token_pool)')
        if crop_batch < 1:
            raise ConfigError(f'crop_batch must be >= 1, got {crop_batch}')
        if decoder_kernel_size % 2 == 0:
            raise ConfigError('decoder_kernel_size must be odd, got '
                              f'{decoder_kernel_size}')
        self.crop_size = crop_size
        self.crop_batch = crop_batch
        self.adapter_position = adapter_position

        chans = [in_channels] + self.embed_dims
        self.encoder = nn.ModuleList(
            EncoderLevel(chans[i], chans[i + 1], act_cfg)
            for i in range(len(self.embed_dims)))
        self.bottleneck = GlobalBottleneck(self.embed_dims[-1], token_dims,
                                           num_layers, num_heads, mlp_ratio,
                                           query_chunk, act_cfg)
        # coarse to fine: level L (from the tokens) ... level 1, level 0
        k = decoder_kernel_size
        levels = [DecoderLevel(token_dims, self.embed_dims[-1], token_pool,
                               k, act_cfg=act_cfg)]
        for i in range(len(self.embed_dims) - 1, 0, -1):
            levels.append(DecoderLevel(self.embed_dims[i],
                                       self.embed_dims[i - 1], 2, k,
                                       act_cfg=act_cfg))
        levels.append(DecoderLevel(self.embed_dims[0], self.embed_dims[0], 2,
                                   k, skip_channels=in_channels,
                                   act_cfg=act_cfg))
        self.decoder = nn.ModuleList(levels)
        self.head = nn.Conv2d(self.embed_dims[0], in_channels, k,
                              padding=k // 2)
        self.adapters = nn.ModuleDict()
        for task, cfg in (adapters or {}).items():
            self.register_adapter(task, cfg)

    # ------------------------------------------------------------------ #
    # sites, adapters, groups
    # ------------------------------------------------------------------ #
    def adapter_sites(self) -> Dict[str, int]:
        """``{site: channels}`` where adapters hang, from input to output."""
        num = len(self.embed_dims)
        sites = {}
        if self.adapter_position == 'all':
            sites.update({f'enc{i + 1}': c
                          for i, c in enumerate(self.embed_dims)})
            sites['bottleneck'] = self.bottleneck.embed.out_channels
        for j, level in enumerate(self.decoder):
            sites[f'dec{num - j}'] = level.block.conv1.out_channels
        return sites

    @property
    def adapter_tasks(self) -> List[str]:
        """Tasks with registered adapters."""
        return list(self.adapters.keys())

    def register_adapter(self, task: str, cfg: dict) -> None:
        """Hang one adapter of ``task`` at every site.

        Args:
            task (str): Task name (selected by ``adapter_task``); no dots.
            cfg (dict): Adapter config from EXPERTS (``BottleneckAdapter``,
                ``ConvLoRA``, ``FiLM``) without ``channels``, which each site
                fills in, e.g. ``dict(type='BottleneckAdapter', ratio=1/16)``.

        Raises:
            ConfigError: The task name is empty, has a dot, or is taken.
            TypeError: ``cfg`` does not build a
                :class:`~featsel.models.experts.adapters.BaseAdapter`.
        """
        if not isinstance(task, str) or not task or '.' in task:
            raise ConfigError(f'adapter task must be a non-empty name '
                              f'without ".", got {task!r}')
        if task in self.adapters:
            raise ConfigError(f'an adapter for task "{task}" is already '
                              'registered')
        site_adapters = nn.ModuleDict()
        for site, channels in self.adapter_sites().items():
            adapter = build_expert(dict(cfg), channels=channels)
            if not isinstance(adapter, BaseAdapter):
                raise TypeError(f'{type(adapter).__name__} is not an adapter '
                                '(a subclass of BaseAdapter)')
            site_adapters[site] = adapter
        ref = self.head.weight
        self.adapters[task] = site_adapters.to(ref.device, ref.dtype)

    def layer_groups(self) -> List[Tuple[str, nn.Module]]:
        """The backbone's parts from input to output, as ``(name,
        module)`` with ``name`` the module's path (a prefix of its
        parameter names): ``encoder.0`` .. ``encoder.{L-1}``,
        ``bottleneck``, ``decoder.0`` (coarsest) .. ``decoder.{L}``,
        ``head``. Adapters are not in any group."""
        groups = [(f'encoder.{i}', m) for i, m in enumerate(self.encoder)]
        groups.append(('bottleneck', self.bottleneck))
        groups += [(f'decoder.{i}', m) for i, m in enumerate(self.decoder)]
        groups.append(('head', self.head))
        return groups

    def _check_task(self, task: Optional[str]) -> Optional[str]:
        if task is not None and task not in self.adapters:
            raise ConfigError(
                f'adapter_task "{task}" has no adapter; registered: '
                f'{self.adapter_tasks} (register_adapter(task, cfg))')
        return task

    def _adapt(self, site: str, x: Tensor, block: Optional[Callable],
               task: Optional[str]) -> Tensor:
        if task is None:
            return x if block is None else block(x)
        return self.adapters[task][site](x, block)

    def _adapter_radius(self, site: str, task: Optional[str]) -> int:
        if task is None:
            return 0
        return self.adapters[task][site].receptive_radius

    # ------------------------------------------------------------------ #
    # receptive fields
    # ------------------------------------------------------------------ #
    def encoder_halo(self, adapter_task: Optional[str] = None) -> int:
        """Context pixels around each crop: the encoder's receptive radius
        ``sum_i [2^(i-1) + 2^i (r_block + r_adapter)]`` rounded up to a
        multiple of ``2^L`` (so crops stay on every level's grid)."""
        task = adapter_task if self.adapter_position == 'all' else None
        radius = 0
        for i, level in enumerate(self.encoder):
            radius += 2**i + 2**(i + 1) * (
                level.block.receptive_radius
                + self._adapter_radius(f'enc{i + 1}', task))
        return align_up(radius, 2**len(self.encoder))

    def receptive_radius(self, adapter_task: Optional[str] = None) -> int:
        """Pixels around an output pixel that the decoder reads from the
        cache: ``sum_levels s (r_block + r_adapter) + r_head`` (31 for the
        defaults without adapters).

        Args:
            adapter_task (str, optional): Include this task's adapters.
        """
        task = self._check_task(adapter_task)
        num = len(self.embed_dims)
        radius = self.head.kernel_size[0] // 2
        for j, level in enumerate(self.decoder):
            stride = 2**(num - j)
            radius += stride * (level.block.receptive_radius
                                + self._adapter_radius(f'dec{num - j}', task))
        return radius

    # ------------------------------------------------------------------ #
    # encode / decode / forward
    # ------------------------------------------------------------------ #
    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels \
                or not x.is_floating_point():
            raise ValueError(
                f'GlobalLocalRestorer takes float images (B, '
                f'{self.in_channels}, H, W), got {x.dtype} '
                f'{tuple(x.shape)}')

    def plan(self, height: int, width: int,
             adapter_task: Optional[str] = None) -> Tuple[AxisPlan, AxisPlan]:
        """The crops of an image of ``height x width`` (rows, columns)."""
        halo = self.encoder_halo(adapter_task)
        return tuple(plan_axis(n, self.crop_size, self.token_stride, halo)
                     for n in (height, width))

    def encode(self, x: Tensor,
               adapter_task: Optional[str] = None) -> RestorerCache:
        """Encoder (crop mini-batches) and bottleneck over the whole image.

        Args:
            x (Tensor): (B, C_in, H, W) images in [0, 1].
            adapter_task (str, optional): Task whose adapters run in the
                encoder and bottleneck (``adapter_position='all'`` only;
                ignored with ``'decoder'``, whose cache serves every task).

        Returns:
            RestorerCache: Padded image, encoder maps, token grid, global
            vector.
        """
        self._check_input(x)
        self._check_task(adapter_task)
        task = adapter_task if self.adapter_position == 'all' else None
        b, _, height, width = x.shape
        rows, cols = self.plan(height, width, task)
        image = pad_to(x, rows.padded, cols.padded)
        framed = F.pad(image, (cols.halo, cols.halo, rows.halo, rows.halo))
        feats = [
            x.new_empty(b, c, rows.padded >> (i + 1), cols.padded >> (i + 1))
            for i, c in enumerate(self.embed_dims)
        ]
        grid = torch.cartesian_prod(
            torch.arange(b), torch.arange(rows.count),
            torch.arange(cols.count)).view(-1, 3)
        for start in range(0, len(grid), self.crop_batch):
            chunk = grid[start:start + self.crop_batch]
            self._encode_crops(framed, chunk, rows, cols, feats, task)
        pooled = F.avg_pool2d(feats[-1], self.token_pool)
        tokens = self._adapt('bottleneck', self.bottleneck(pooled), None,
                             task)
        return RestorerCache(image, feats, tokens, tokens.mean((2, 3)),
                             (height, width), task)

    def _encode_crops(self, framed: Tensor, chunk: Tensor, rows: AxisPlan,
                      cols: AxisPlan, feats: List[Tensor],
                      task: Optional[str]) -> None:
        """Encode the crops ``chunk`` ((n, 3): image, row, column) and
        write their cells (halo removed) into ``feats``."""
        span_r, span_c = rows.crop + 2 * rows.halo, cols.crop + 2 * cols.halo
        h = torch.stack([
            framed[n, :, i * rows.crop:i * rows.crop + span_r,
                   j * cols.crop:j * cols.crop + span_c]
            for n, i, j in chunk.tolist()
        ])
        masked = rows.halo > 0 or cols.halo > 0
        for level, enc in enumerate(self.encoder):
            stride = 2**(level + 1)
            mask = None
            if masked:
                mask = (inside(rows, chunk[:, 1].to(h.device), stride)[:, :,
                                                                       None]
                        * inside(cols, chunk[:, 2].to(h.device),
                                 stride)[:, None]).unsqueeze(1).to(h.dtype)
            h = enc.downsample(h, mask)
            h = self._adapt(f'enc{level + 1}', h,
                            partial(enc.block, mask=mask), task)
            if mask is not None:  # an adapter may write outside the image
                h = h * mask
            hr, hc = rows.halo // stride, cols.halo // stride
            cr, cc = rows.crop // stride, cols.crop // stride
            core = h[:, :, hr:hr + cr, hc:hc + cc]
            for k, (n, i, j) in enumerate(chunk.tolist()):
                feats[level][n, :, i * cr:(i + 1) * cr,
                             j * cc:(j + 1) * cc] = core[k]

    def _check_region(self, cache: RestorerCache,
                      region: Optional[Sequence[int]]) -> Region:
        height, width = cache.padded_size
        if region is None:
            return 0, height, 0, width
        y0, y1, x0, x1 = (int(v) for v in region)
        t = self.token_stride
        if any(v % t for v in (y0, y1, x0, x1)) or not (
                0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
            raise ValueError(
                f'region (y0, y1, x0, x1) = {tuple(region)} must lie in the '
                f'padded image {height}x{width} with every bound a multiple '
                f'of the token stride {t}')
        return y0, y1, x0, x1

    def decode(self, cache: RestorerCache,
               region: Optional[Sequence[int]] = None,
               adapter_task: Optional[str] = None) -> Tensor:
        """Decode one region of the padded image from the cache.

        The decoder sees the cached maps cut to the region only (zero
        padding at its border), so a region's pixels within
        :meth:`receptive_radius` of an inner border differ from a whole-image
        decode; tiled inference overlaps and blends tiles for that
        (:func:`featsel.apis.restore`).

        Args:
            cache (RestorerCache): From :meth:`encode`.
            region (Sequence[int], optional): ``(y0, y1, x0, x1)`` in the
                padded image, multiples of :attr:`token_stride`; the whole
                padded image when None.
            adapter_task (str, optional): Task whose decoder adapters run;
                with ``adapter_position='all'`` it must be the task the
                cache was encoded with.

        Returns:
            Tensor: (B, C_in, y1 - y0, x1 - x0).
        """
        task = self._check_task(adapter_task)
        if self.adapter_position == 'all' and task != cache.task:
            raise ConfigError(
                f'the cache was encoded for adapter_task "{cache.task}" and '
                f'cannot decode "{task}": with adapter_position="all" the '
                'encoder runs adapters too; encode again for this task')
        y0, y1, x0, x1 = self._check_region(cache, region)
        num = len(self.embed_dims)
        t = self.token_stride
        h = cache.tokens[:, :, y0 // t:y1 // t, x0 // t:x1 // t]
        for j, level in enumerate(self.decoder):
            stride = 2**(num - j)
            if stride > 1:
                source = cache.feats[num - j - 1]
            else:
                source = cache.image
            skip = source[:, :, y0 // stride:y1 // stride,
                          x0 // stride:x1 // stride]
            h = self._adapt(f'dec{num - j}', level.fuse(h, skip), level.block,
                            task)
        return cache.image[:, :, y0:y1, x0:x1] + self.head(h)

    def forward(self, x: Tensor, return_global: bool = True,
                adapter_task: Optional[str] = None
                ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Restore whole images (no tiling).

        Args:
            x (Tensor): (B, C_in, H, W) images in [0, 1].
            return_global (bool): Also return ``global_vec``.
            adapter_task (str, optional): Task whose adapters run.

        Returns:
            Tensor | tuple[Tensor, Tensor]: ``y`` (B, C_in, H, W), and
            ``global_vec`` (B, D) when ``return_global``.
        """
        cache = self.encode(x, adapter_task)
        height, width = cache.size
        y = self.decode(cache, adapter_task=adapter_task)[..., :height,
                                                            :width]
        return (y, cache.global_vec) if return_global else y
