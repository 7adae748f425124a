"""Depthwise experts for per-scale feature selection (SPEC S1, E2/E3)."""
from typing import Optional

import torch
from torch import Tensor, nn

from ...registry import EXPERTS
from ..base import BaseExpert, Example


@EXPERTS.register_module()
class DWConvExpert(BaseExpert):
    """A depthwise convolution: ``e(x) = DWConv_{k,d}(x)``, no channel mixing.

    ``kernel_size=3, dilation=1`` sees local texture, ``dilation=2`` larger
    structure, ``kernel_size=5`` smooth regions.

    Args:
        channels (int): Channels ``C`` (in = out).
        kernel_size (int): Kernel size (odd). Defaults to 3.
        dilation (int): Dilation. Defaults to 1.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(channels=8, kernel_size=3, dilation=2),
                      run=lambda m: m(torch.randn(2, 8, 6, 6)))

    def __init__(self,
                 channels: int,
                 kernel_size: int = 3,
                 dilation: int = 1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.conv = nn.Conv2d(channels, channels, kernel_size,
                              padding=dilation * (kernel_size // 2),
                              dilation=dilation, groups=channels)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: (B, C, H, W). Returns: (B, C, H, W)."""
        return self.conv(x)


@EXPERTS.register_module()
class IdentityExpert(BaseExpert):
    """``e(x) = x``: lets the gate pass a scale through unchanged.

    Args:
        channels (int): Unused; accepted so every expert shares one signature.
    """

    example = Example(args=dict(channels=8),
                      run=lambda m: m(torch.randn(2, 8, 6, 6)))

    def __init__(self, channels: int) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x
