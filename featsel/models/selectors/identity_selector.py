"""The selector used when selection is off."""
from typing import Dict, List, Sequence

import torch
from torch import Tensor

from ...registry import SELECTORS
from ..base import BaseSelector, Example


@SELECTORS.register_module()
class IdentitySelector(BaseSelector):
    """Give every task the shared features unchanged: ``f_i^t = f_i``.

    This is the baseline ``y^t = D^t({f_i})`` of SPEC S1; a model whose
    ``selector`` is None uses it.
    """

    example = Example(
        args=dict(tasks=['seg', 'sdf'], in_channels=[4, 8]),
        run=lambda m: m([torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]))

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, List[Tensor]]:
        """Args: feats (list[Tensor]): ``(B, C_i, H_i, W_i)`` per scale."""
        return {task: list(feats) for task in self.tasks}
