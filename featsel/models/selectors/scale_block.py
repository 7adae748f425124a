"""What a selector does at one scale: the interface of its per-scale blocks.

A :class:`MultiScaleTaskSelector` holds one block per encoder scale and asks
each block for the task features, the gates and the regularisers of that
scale; the block kinds are :class:`ScaleIdentityBlock` (here),
:class:`TaskDWBlock` and :class:`DepthwiseExpertBlock`.
"""
from typing import Dict, List, Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor

from ..base import GateRecord, Plugin


class ScaleBlock(Plugin, BaseModule):
    """One scale of a selector: ``f -> {task: f^t}``.

    A part of the selector's plug-in protocol: :meth:`records` gives the
    gates of the scale by task; the selector names them ``'f<i>/<task>'``.

    Args:
        channels (int): Channels ``C`` of the scale.
        tasks (Sequence[str]): Task names.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, channels: int, tasks: Sequence[str],
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.tasks = list(tasks)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """Args: x (Tensor): (B, C, H, W). Returns: per task (B, C, H, W)."""
        raise NotImplementedError

    def records(self) -> Dict[str, GateRecord]:
        """Gates of the last forward by task (none by default)."""
        return {}

    def loss_terms(self) -> Dict[str, List[Tensor]]:
        """Per-task regulariser values of the last forward, by loss name.

        Each list holds one value per task; the selector averages each name
        over everything its blocks return.
        """
        return {}

    def scale_terms(self) -> Dict[str, Tensor]:
        """Regularisers of the scale's shared part (e.g. the experts'
        orthogonality), one value per name; the selector sums each name over
        its scales, as SPEC's ``sum_i``."""
        return {}


class ScaleIdentityBlock(ScaleBlock):
    """No selection at this scale: ``f^t = f`` (the same tensor) for all t.

    Args:
        channels (int): Channels ``C`` (unused; kept so all blocks share one
            signature).
        tasks (Sequence[str]): Task names.
    """

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        return {task: x for task in self.tasks}
