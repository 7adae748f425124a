"""Gates over the scales of a concatenated multi-scale map (SPEC S1, E6)."""
from typing import Optional

import torch
from torch import Tensor, nn

from ...registry import GATINGS
from ..base import Example
from .base_softmax_gating import SoftmaxGating


@GATINGS.register_module()
class ChannelDWScaleGate(SoftmaxGating):
    """Per-channel scale gate: a depthwise conv over the concatenated scales.

    ``F`` is the scale-major concat ``[f̂_1 | ... | f̂_S]`` of shape
    ``(B, S*C, H, W)``. ``G = DWConv(F)`` is viewed as ``(B, S, C, H, W)``
    (scale-major, so channel ``c`` of scale ``i`` stays itself) and
    ``alpha = softmax_S(G)``: every pixel and channel mixes its own scales.

    Args:
        num_experts (int): Number of scales ``S``.
        channels (int): Channels ``C`` of each scale.
        kernel_size (int): Depthwise kernel size. Defaults to 3.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(num_experts=3, channels=4),
                      run=lambda m: m(torch.randn(2, 12, 6, 6)))

    def __init__(self,
                 num_experts: int,
                 channels: int,
                 kernel_size: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_experts = num_experts
        self.channels = channels
        width = num_experts * channels
        self.conv = nn.Conv2d(width, width, kernel_size,
                              padding=kernel_size // 2, groups=width)

    def logits(self, x: Tensor) -> Tensor:
        """Args: x: (B, S*C, H, W). Returns: (B, S, C, H, W)."""
        b, _, h, w = x.shape
        return self.conv(x).view(b, self.num_experts, self.channels, h, w)


@GATINGS.register_module()
class PixelScaleGate(SoftmaxGating):
    """Channel-shared scale gate in the style of Patcher's MoE decoder.

    A per-pixel MLP (two 1x1 convs) maps the concat ``(B, S*C, H, W)`` to
    ``S`` logits; ``alpha = softmax_S`` has shape ``(B, S, 1, H, W)``, one
    weight per pixel and scale shared by all channels.

    Args:
        num_experts (int): Number of scales ``S``.
        channels (int): Channels ``C`` of each scale.
        hidden_channels (int): MLP width. Defaults to 64.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(num_experts=3, channels=4,
                                hidden_channels=8),
                      run=lambda m: m(torch.randn(2, 12, 6, 6)))

    def __init__(self,
                 num_experts: int,
                 channels: int,
                 hidden_channels: int = 64,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(
            nn.Conv2d(num_experts * channels, hidden_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, num_experts, 1))

    def logits(self, x: Tensor) -> Tensor:
        """Args: x: (B, S*C, H, W). Returns: (B, S, 1, H, W)."""
        return self.mlp(x).unsqueeze(2)
