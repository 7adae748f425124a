"""RT-DETR's hybrid encoder with switchable token pruning and Patch-MoE."""
import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.layers import DetrTransformerEncoderLayer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...builder import build_pruner
from ...layers.moe_ffn import moe_ignore_tokens
from ...layers.moe_slot import replace_ffn
from .positional_encoding import sincos_2d_position_embedding
from .rep_blocks import CSPRepLayer


@MODELS.register_module()
class HybridEncoder(BaseModule):
    """Intra-scale attention on the top level, then cross-scale fusion.

    1. Each backbone level is projected to ``embed_dims`` (1x1 conv + BN).
    2. On the levels in ``encoder_levels`` (RT-DETR: only the stride-32
       one, ~400 tokens at 640x640) the tokens get 2-D sin-cos positions and
       pass ``num_encoder_layers`` post-norm transformer layers (AIFI).
       Optionally a pruner keeps ``K`` of the ``N`` tokens first; the
       processed tokens go back to their positions and the pruned positions
       keep their input (or zeros, as the pruner says).
    3. A top-down (FPN) and a bottom-up (PAN) path fuse neighbouring levels
       with :class:`CSPRepLayer` s.

    Padding: given the batch's padding mask, pad tokens are masked as keys
    of the attention, never kept by the pruner, left out of the MoE
    statistics, and keep their input features (the transformer does not
    write to them), so an image's valid tokens come out as when it runs
    alone.

    Args:
        in_channels (Sequence[int]): Channels of the backbone levels.
        embed_dims (int): Width of every output level. Defaults to 256.
        encoder_levels (Sequence[int]): Levels (indices into the inputs)
            that get the transformer. Defaults to ``(2,)``.
        num_encoder_layers (int): Transformer layers per level. Defaults
            to 1.
        encoder_layer (dict): ``DetrTransformerEncoderLayer`` arguments.
        moe_cfg (dict, optional): Replaces each encoder layer's FFN by this
            module (e.g. ``dict(type='MoEFFN', ...)``). ``None``: dense.
        pruner (dict, optional): A ``PRUNERS`` config applied before the
            transformer. ``None``: every token is processed.
        num_blocks (int): RepVGG blocks per fusion layer. Defaults to 3.
        expansion (float): Width factor of the fusion layers. Defaults to
            1.0 (RT-DETR uses 0.5 for R18/R34).
        temperature (float): Frequency base of the positions.
        act_cfg (dict): Activation of the fusion path. Defaults to SiLU.
        norm_cfg (dict): Normalisation of the convs. Defaults to BN.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 embed_dims: int = 256,
                 encoder_levels: Sequence[int] = (2, ),
                 num_encoder_layers: int = 1,
                 encoder_layer: dict = dict(
                     self_attn_cfg=dict(num_heads=8, dropout=0.0),
                     ffn_cfg=dict(feedforward_channels=1024, ffn_drop=0.0,
                                  act_cfg=dict(type='GELU'))),
                 moe_cfg: Optional[dict] = None,
                 pruner: Optional[dict] = None,
                 num_blocks: int = 3,
                 expansion: float = 1.0,
                 temperature: float = 10000.,
                 act_cfg: dict = dict(type='SiLU'),
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        num_levels = len(in_channels)
        bad = [i for i in encoder_levels if not 0 <= i < num_levels]
        if bad:
            raise ValueError(f'encoder_levels {list(bad)} out of range for '
                             f'{num_levels} input levels')
        self.embed_dims = embed_dims
        self.encoder_levels = list(encoder_levels)
        self.temperature = temperature
        self.input_proj = nn.ModuleList(
            ConvModule(c, embed_dims, 1, norm_cfg=norm_cfg, act_cfg=None)
            for c in in_channels)
        self.encoders = nn.ModuleList(
            nn.ModuleList(
                self._build_layer(encoder_layer, moe_cfg)
                for _ in range(num_encoder_layers))
            for _ in self.encoder_levels)
        self.pruner = build_pruner(
            pruner, embed_dims=embed_dims) if pruner is not None else None

        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        fuse = dict(num_blocks=num_blocks, expansion=expansion, **conv)
        steps = range(num_levels - 1)
        self.lateral_convs = nn.ModuleList(
            ConvModule(embed_dims, embed_dims, 1, **conv) for _ in steps)
        self.fpn_blocks = nn.ModuleList(
            CSPRepLayer(2 * embed_dims, embed_dims, **fuse) for _ in steps)
        self.downsample_convs = nn.ModuleList(
            ConvModule(embed_dims, embed_dims, 3, stride=2, padding=1, **conv)
            for _ in steps)
        self.pan_blocks = nn.ModuleList(
            CSPRepLayer(2 * embed_dims, embed_dims, **fuse) for _ in steps)

    def _build_layer(self, layer_cfg: dict,
                     moe_cfg: Optional[dict]) -> nn.Module:
        cfg = copy.deepcopy(dict(layer_cfg))
        cfg['self_attn_cfg'] = dict(
            cfg.get('self_attn_cfg', {}), embed_dims=self.embed_dims,
            batch_first=True)
        cfg['ffn_cfg'] = dict(cfg.get('ffn_cfg', {}),
                              embed_dims=self.embed_dims)
        return replace_ffn(DetrTransformerEncoderLayer(**cfg), moe_cfg)

    def encode_level(self,
                     feat: Tensor,
                     layers: nn.ModuleList,
                     padding_mask: Optional[Tensor] = None) -> Tensor:
        """Run the (optionally pruned) transformer on one level.

        Args:
            feat (Tensor): ``(B, C, H, W)``.
            layers (nn.ModuleList): The transformer layers of this level.
            padding_mask (Tensor, optional): ``(B, H, W)`` bool, True at
                padding.

        Returns:
            Tensor: ``(B, C, H, W)``.
        """
        b, c, h, w = feat.shape
        tokens = feat.flatten(2).transpose(1, 2)
        pos = sincos_2d_position_embedding(
            h, w, c, self.temperature, device=feat.device, dtype=feat.dtype)
        token_mask = None if padding_mask is None else padding_mask.flatten(1)
        if self.pruner is not None:
            kept = self.pruner(tokens, pos, hw=(h, w),
                               padding_mask=token_mask)
            x, x_pos, key_mask = kept.tokens, kept.pos, kept.padding_mask
        else:
            x, x_pos, key_mask = tokens, pos.expand(b, -1, -1), token_mask
        with moe_ignore_tokens(layers, key_mask):
            for layer in layers:
                x = layer(x, query_pos=x_pos, key_padding_mask=key_mask)
        if self.pruner is not None:
            x = self.pruner.restore(x, tokens, kept.index, key_mask)
        elif key_mask is not None:
            x = torch.where(key_mask[..., None], tokens, x)
        return x.transpose(1, 2).reshape(b, c, h, w)

    def forward(self,
                feats: Sequence[Tensor],
                padding_mask: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """Project, encode the top level(s) and fuse.

        Args:
            feats (Sequence[Tensor]): Backbone levels ``(B, C_i, H_i,
                W_i)``, fine to coarse.
            padding_mask (Tensor, optional): ``(B, H_in, W_in)`` bool at the
                input resolution, True at the padded border of each image;
                resized to each encoded level (nearest). None: no padding.

        Returns:
            tuple[Tensor]: One ``(B, embed_dims, H_i, W_i)`` map per level.
        """
        if len(feats) != len(self.input_proj):
            raise ValueError(f'HybridEncoder expects {len(self.input_proj)} '
                             f'levels, got {len(feats)}')
        proj: List[Tensor] = [p(f) for p, f in zip(self.input_proj, feats)]
        for level, layers in zip(self.encoder_levels, self.encoders):
            level_mask = None if padding_mask is None else resize_padding_mask(
                padding_mask, proj[level].shape[-2:])
            proj[level] = self.encode_level(proj[level], layers, level_mask)

        # top-down: coarse to fine
        inner = [proj[-1]]
        for i, low in enumerate(reversed(proj[:-1])):
            high = self.lateral_convs[i](inner[0])
            inner[0] = high
            up = F.interpolate(high, size=low.shape[-2:], mode='nearest')
            inner.insert(0, self.fpn_blocks[i](_concat_channels(up, low)))
        # bottom-up: fine to coarse
        outs = [inner[0]]
        for i, high in enumerate(inner[1:]):
            down = self.downsample_convs[i](outs[-1])
            outs.append(self.pan_blocks[i](_concat_channels(down, high)))
        return tuple(outs)


def resize_padding_mask(mask: Tensor, size: Sequence[int]) -> Tensor:
    """``(B, H, W)`` bool padding mask -> ``(B, *size)`` by nearest
    sampling, as DETR derives the mask of each feature level.

    Args:
        mask (Tensor): ``(B, H, W)`` bool, True at padding.
        size (Sequence[int]): ``(h, w)`` of the level.
    """
    return F.interpolate(mask[None].float(), size=tuple(size))[0].bool()


def _concat_channels(a: Tensor, b: Tensor) -> Tensor:
    """Concatenate two maps on channels, cropping ``a`` to ``b``'s size
    (odd input sizes make a strided conv round up)."""
    return torch.cat([a[..., :b.shape[-2], :b.shape[-1]], b], dim=1)
