"""A depthwise expert with a squeeze-excitation channel gate."""
from typing import Optional

from torch import Tensor, nn

from featsel.models import BaseExpert
from featsel.registry import EXPERTS


@EXPERTS.register_module()
class GatedDWExpert(BaseExpert):
    """``e(x) = DWConv(x) * sigmoid(MLP(GAP(x)))``.

    A depthwise 3x3 conv whose channels are re-weighted per image by a
    squeeze-excitation gate, so the expert can silence channels that carry
    nothing for the scale.

    Args:
        channels (int): Channels ``C`` (filled in by the selector).
        reduction (int): Bottleneck ratio of the excitation MLP. Defaults
            to 4.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels: int,
                 reduction: int = 4,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden = max(1, channels // reduction)
        self.dwconv = nn.Conv2d(channels, channels, 3, padding=1,
                                groups=channels)
        self.excite = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: (B, C, H, W). Returns: (B, C, H, W)."""
        return self.dwconv(x) * self.excite(x)
