"""Interface of the multi-task decoders."""
from typing import Dict, List, Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor

from ..base import GateRecordsMixin


class BaseTaskDecoder(GateRecordsMixin, BaseModule):
    """Decodes per-task multi-scale features into one map per task.

    Contract: ``forward({task: [f_1^t..f_S^t]}) -> {task: (B, out_channels,
    H_1, W_1)}``.

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Channels of each input scale.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    out_channels: int

    def __init__(self,
                 tasks: Sequence[str],
                 in_channels: Sequence[int],
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks = list(tasks)
        self.in_channels = list(in_channels)

    def forward(self,
                task_feats: Dict[str, List[Tensor]]) -> Dict[str, Tensor]:
        raise NotImplementedError

    def aux_losses(self) -> Dict[str, Tensor]:
        """Regularisers of the last forward pass (empty by default)."""
        return {}
