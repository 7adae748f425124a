"""Re-parameterisable conv blocks of RT-DETR's cross-scale fusion."""
from typing import Optional

import torch
from mmcv.cnn import ConvModule, build_activation_layer
from mmengine.model import BaseModule
from torch import Tensor, nn


class RepVGGBlock(BaseModule):
    """``act(BN(conv3x3(x)) + BN(conv1x1(x)))``.

    The two branches are linear, so a deployment step can fold them into one
    3x3 conv (:meth:`fuse`, or :meth:`switch_to_deploy`, which also drops
    the branches); training keeps both. With BN statistics ``mu, var``,
    scale ``gamma``, shift ``beta`` per branch, the folded conv is
    ``W = sum_b s_b * pad(W_b)``, ``bias = sum_b beta_b - mu_b * s_b`` where
    ``s_b = gamma_b / sqrt(var_b + eps)`` and the 1x1 kernel is zero-padded
    to 3x3.

    Args:
        channels (int): Input and output channels.
        act_cfg (dict): Activation. Defaults to ``dict(type='SiLU')``.
        norm_cfg (dict): Normalisation. Defaults to BN.
    """

    def __init__(self,
                 channels: int,
                 act_cfg: dict = dict(type='SiLU'),
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv3x3 = ConvModule(channels, channels, 3, padding=1,
                                  norm_cfg=norm_cfg, act_cfg=None)
        self.conv1x1 = ConvModule(channels, channels, 1,
                                  norm_cfg=norm_cfg, act_cfg=None)
        self.act = build_activation_layer(act_cfg)
        self.fused: Optional[nn.Conv2d] = None

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: (B, C, H, W). Returns: (B, C, H, W)."""
        if self.fused is not None:
            return self.act(self.fused(x))
        return self.act(self.conv3x3(x) + self.conv1x1(x))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold both branches and their BNs into one 3x3 conv (eval only);
        the branches stay, so the block can be trained on."""
        weight, bias = 0, 0
        for branch, pad in ((self.conv3x3, 0), (self.conv1x1, 1)):
            bn = branch.bn
            scale = bn.weight / (bn.running_var + bn.eps).sqrt()
            w = branch.conv.weight * scale[:, None, None, None]
            weight = weight + nn.functional.pad(w, [pad] * 4)
            bias = bias + bn.bias - bn.running_mean * scale
        channels = weight.shape[0]
        self.fused = nn.Conv2d(channels, channels, 3, padding=1).to(weight)
        self.fused.weight.copy_(weight)
        self.fused.bias.copy_(bias)

    def switch_to_deploy(self) -> None:
        """Deployment form: :meth:`fuse`, then drop the two branches, so
        the block holds one 3x3 conv (eval only; not trainable back)."""
        if self.fused is None:
            self.fuse()
        del self.conv3x3, self.conv1x1


class CSPRepLayer(BaseModule):
    """Cross-stage-partial stack of :class:`RepVGGBlock` s.

    ``out = conv3(blocks(conv1(x)) + conv2(x))`` with ``conv1``/``conv2``
    1x1 projections to ``hidden = out_channels * expansion`` and ``conv3`` a
    1x1 back to ``out_channels`` (identity when ``expansion == 1``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_blocks (int): RepVGG blocks on the main path. Defaults to 3.
        expansion (float): Hidden width factor. Defaults to 1.0.
        act_cfg (dict): Activation. Defaults to ``dict(type='SiLU')``.
        norm_cfg (dict): Normalisation. Defaults to BN.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int = 3,
                 expansion: float = 1.0,
                 act_cfg: dict = dict(type='SiLU'),
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden = int(out_channels * expansion)
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(in_channels, hidden, 1, **conv)
        self.conv2 = ConvModule(in_channels, hidden, 1, **conv)
        self.blocks = nn.Sequential(*[
            RepVGGBlock(hidden, act_cfg=act_cfg, norm_cfg=norm_cfg)
            for _ in range(num_blocks)
        ])
        self.conv3 = (
            ConvModule(hidden, out_channels, 1, **conv)
            if hidden != out_channels else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: (B, C_in, H, W). Returns: (B, C_out, H, W)."""
        return self.conv3(self.blocks(self.conv1(x)) + self.conv2(x))
