"""Base classes of the five plug-in kinds.

The plug-in registries (``SELECTORS``, ``EXPERTS``, ``GATINGS``, ``ROUTERS``,
``PRUNERS``) are aliases of mmengine's root ``MODELS`` (see
:mod:`featsel.registry`), so the kind of a component is carried by its base
class; :mod:`featsel.models.builder` checks it when building.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor


class GateRecord(NamedTuple):
    """A gate or weight map from a module's last forward pass.

    Args:
        kind (str): ``'softmax'``: mixing weights over experts or scales on
            dim 1 (they sum to one there); ``'sigmoid'``: per-pixel or
            per-channel weights in [0, 1].
        value (Tensor): ``(B, K, ...)`` for softmax, ``(B, C or 1, H, W)``
            for sigmoid. Not detached, so regularisers can use it.
    """

    kind: str
    value: Tensor


class GateRecordsMixin:
    """``gate_records()``: the gates of the last forward, by name.

    Names read ``'<scale>/<task>'`` (e.g. ``'f1/seg'``, ``'fused/sdf'``);
    hooks log and draw them, regularisers read them.
    """

    def gate_records(self) -> Dict[str, GateRecord]:
        return {}


class BaseTaskModule(GateRecordsMixin, BaseModule):
    """A module of a multi-task model that sees every task and every scale.

    Args:
        tasks (Sequence[str]): Task names, in the model's order.
        in_channels (Sequence[int]): Channels ``C_i`` of each input scale.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 in_channels: Sequence[int],
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks = list(tasks)
        self.in_channels = list(in_channels)

    def aux_losses(self) -> Dict[str, Tensor]:
        """Regularisers of the last forward pass (empty by default)."""
        return {}


class BaseSelector(BaseTaskModule):
    """Turns shared multi-scale features into one feature list per task.

    Contract: ``forward(feats) -> {task: [f_1^t, ..., f_S^t]}`` where
    ``feats[i]`` is ``(B, C_i, H_i, W_i)`` and each ``f_i^t`` keeps that
    shape. Arguments as :class:`BaseTaskModule`.
    """

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, List[Tensor]]:
        raise NotImplementedError


class BaseExpert(BaseModule):
    """One expert: a map from features to features of the same shape."""


class BaseGating(BaseModule):
    """Produces mixing weights that sum to one over dim 1 (experts/scales).

    Contract: ``forward(x) -> alpha`` with ``alpha.sum(1) == 1``; the shape of
    ``alpha`` is ``(B, K, ...)`` where the trailing dims say where the weights
    vary (per pixel, per channel, per image).
    """


class BaseRouter(BaseModule):
    """Routes tokens or samples to experts."""


class BasePruner(BaseModule):
    """Chooses which tokens to keep."""
