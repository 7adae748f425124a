"""Interface of the multi-task decoders."""
from typing import Dict, List

from torch import Tensor

from ...base import BaseTaskModule


class BaseTaskDecoder(BaseTaskModule):
    """Decodes per-task multi-scale features into one map per task.

    Contract: ``forward({task: [f_1^t..f_S^t]}) -> {task: (B, out_channels,
    H_1, W_1)}``. Arguments as :class:`~featsel.models.base.BaseTaskModule`.
    """

    out_channels: int

    def forward(self,
                task_feats: Dict[str, List[Tensor]]) -> Dict[str, Tensor]:
        raise NotImplementedError
