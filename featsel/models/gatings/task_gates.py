"""Gates over K experts computed from one scale's features."""
from typing import Optional

import torch
from torch import Tensor, nn

from ...registry import GATINGS
from ..base import Example
from .base_softmax_gating import SoftmaxGating


@GATINGS.register_module()
class ConvGating(SoftmaxGating):
    """Spatial gate: ``alpha = softmax_K(Conv1x1(x))``, shape (B, K, H, W).

    Args:
        num_experts (int): Number of experts ``K``.
        channels (int): Input channels ``C``.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(num_experts=4, channels=8),
                      run=lambda m: m(torch.randn(2, 8, 6, 6)))

    def __init__(self,
                 num_experts: int,
                 channels: int,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(channels, num_experts, 1)

    def logits(self, x: Tensor) -> Tensor:
        """Args: x: (B, C, H, W). Returns: (B, K, H, W)."""
        return self.conv(x)
