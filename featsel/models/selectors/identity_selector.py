"""The selector used when selection is off."""
from typing import Dict, List, Sequence

from torch import Tensor

from ...registry import SELECTORS
from ..base import BaseSelector


@SELECTORS.register_module()
class IdentitySelector(BaseSelector):
    """Give every task the shared features unchanged: ``f_i^t = f_i``.

    This is the baseline ``y^t = D^t({f_i})`` of SPEC S1; a model whose
    ``selector`` is None uses it.
    """

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, List[Tensor]]:
        """Args: feats (list[Tensor]): ``(B, C_i, H_i, W_i)`` per scale."""
        return {task: list(feats) for task in self.tasks}
