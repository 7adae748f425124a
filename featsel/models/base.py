"""The plug-in protocol and the base classes of the plug-in kinds.

The plug-in registries (``SELECTORS``, ``EXPERTS``, ``GATINGS``, ``ROUTERS``,
``PRUNERS``, ``LAYERS``, ``LOSSES``) are aliases of mmengine's root
``MODELS`` (see :mod:`featsel.registry`), so the kind of a component is
carried by its base class; :mod:`featsel.models.builder` checks it when
building.

**Protocol.** Every plug-in that adds losses, diagnostics or schedules
subclasses :class:`Plugin` and answers three calls:

* ``aux_losses() -> {name: Tensor}`` -- the regularisers of its last forward
  (names contain ``loss`` so mmengine's ``parse_losses`` sums them);
* ``records() -> {name: Record}`` -- what its last forward or its schedule
  looks like: a :class:`GateRecord` (gate or weight map), a
  :class:`UsageRecord` (expert shares of a mixture of experts), a
  :class:`ScheduleRecord` (a scheduled value such as a keep ratio) or a
  :class:`ScalarRecord` (a scalar diagnostic such as a gradient norm);
* ``set_progress(epoch, iter, max_epochs=None, max_iters=None)`` -- where
  training stands, for schedules.

A plug-in answers for everything below it: the helpers here
(:func:`find_plugins`, :func:`collect_aux_losses`, :func:`collect_records`,
:func:`set_progress`) visit the *outermost* plug-ins of a model only, and
the default ``set_progress`` passes the call on to the plug-ins inside.
"""
import re
import warnings
from typing import (Any, Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn


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


class UsageRecord(NamedTuple):
    """How a mixture-of-experts layer spread its last forward's tokens.

    Args:
        load (Tensor): ``(E,)`` detached fraction of the ``N * k`` token
            slots each expert took; sums to one.
        top_k (int): Experts per token ``k`` (a share cannot exceed
            ``1 / k``).
    """

    load: Tensor
    top_k: int


class ScheduleRecord(NamedTuple):
    """The current value of a scheduled quantity (e.g. a keep ratio).

    Args:
        value (float): The value the next forward uses.
    """

    value: float


class ScalarRecord(NamedTuple):
    """A scalar diagnostic of the last forward pass (a kept-token ratio,
    the mean of a score, a gradient norm).

    Args:
        value (Tensor | float): A detached 0-dim tensor (converted to a
            number only when logged) or a number.
    """

    value: Union[Tensor, float]


Record = Union[GateRecord, UsageRecord, ScheduleRecord, ScalarRecord]


class Example(NamedTuple):
    """The documented example of a registered component.

    ``type=<name>, **args`` builds it; ``run(module)`` runs it on a tiny
    input and returns its output. Every component class carries one as its
    ``example`` attribute; ``tests/test_models/test_all_components.py``
    builds each under the featsel, mmseg and mmdet default scopes and runs
    it.

    Args:
        args (dict): Constructor arguments (without ``type``).
        run (Callable[[nn.Module], Any]): Runs the built module on a tiny
            input.
    """

    args: Dict[str, Any]
    run: Callable[[nn.Module], Any]


class Plugin:
    """The plug-in protocol (mixin for ``nn.Module`` subclasses).

    Defaults: no losses, no records, and ``set_progress`` passed on to the
    plug-ins inside this one.
    """

    def aux_losses(self) -> Dict[str, Tensor]:
        """Regularisers of the last forward pass (empty by default)."""
        return {}

    def records(self) -> Dict[str, Record]:
        """Diagnostics of the last forward pass (empty by default)."""
        return {}

    def set_progress(self, epoch: float, iter: int,
                     max_epochs: Optional[int] = None,
                     max_iters: Optional[int] = None) -> None:
        """Where training stands, for schedules.

        Args:
            epoch (float): Epochs done (0-based). Epoch-based loops pass the
                current epoch; iteration-based loops the fraction
                ``iter / iters_per_epoch``.
            iter (int): Training iterations done (0-based).
            max_epochs (int, optional): Length of training in epochs.
            max_iters (int, optional): Length of training in iterations.
        """
        for _, plugin in find_plugins(self, include_self=False):
            plugin.set_progress(epoch, iter, max_epochs, max_iters)

    def gate_records(self) -> Dict[str, GateRecord]:
        """Deprecated: the :class:`GateRecord` entries of :meth:`records`."""
        warnings.warn(
            'gate_records() is deprecated; use records() and keep its '
            'GateRecord entries', DeprecationWarning, stacklevel=2)
        return {name: record for name, record in self.records().items()
                if isinstance(record, GateRecord)}

    def set_epoch(self, epoch: float) -> None:
        """Deprecated: ``set_progress(epoch, iter=0)``."""
        warnings.warn('set_epoch(epoch) is deprecated; use '
                      'set_progress(epoch, iter, max_epochs, max_iters)',
                      DeprecationWarning, stacklevel=2)
        self.set_progress(epoch, 0)


# kept for code that mixed in the old name
GateRecordsMixin = Plugin

_STACK_INDEX = re.compile(r'(^|\.)\d+(?=\.|$)')


def find_plugins(module: nn.Module,
                 include_self: bool = True) -> List[Tuple[str, Plugin]]:
    """The outermost plug-ins of a module, in ``named_modules()`` order.

    Args:
        module (nn.Module): A model (unwrapped) or a plug-in.
        include_self (bool): Return ``[('', module)]`` when ``module`` is
            itself a plug-in. Defaults to True.

    Returns:
        list[tuple[str, Plugin]]: ``(path, plug-in)``; the path is relative
        to ``module`` (``'selector'``, ``'decoder.layers.0.ffn'``).
    """
    if include_self and isinstance(module, Plugin):
        return [('', module)]
    found: List[Tuple[str, Plugin]] = []
    outer: List[str] = []
    for path, child in module.named_modules():
        if child is module or not isinstance(child, Plugin):
            continue
        if any(path.startswith(p + '.') for p in outer):
            continue
        outer.append(path)
        found.append((path, child))
    return found


def loss_namespace(path: str) -> str:
    """A plug-in path without the indices of layer stacks
    (``'decoder.layers.3.ffn'`` -> ``'decoder.layers.ffn'``)."""
    return _STACK_INDEX.sub('', path).lstrip('.')


def collect_aux_losses(model: nn.Module) -> Dict[str, Tensor]:
    """The auxiliary losses of every plug-in of a model, namespaced.

    Each loss ``name`` of the plug-in at ``path`` is returned as
    ``'<namespace>.<name>'``, the namespace being the path without layer
    stack indices (:func:`loss_namespace`), e.g. ``'selector.loss_orth'``,
    ``'decoder.loss_gate_balance'``, ``'decoder.layers.ffn.loss_balance'``.
    Two plug-ins at different places therefore never share a key; the
    copies of one plug-in in the layers of a stack share one key and are
    averaged, so the weight of a per-layer regulariser does not grow with
    depth. The name keeps its ``loss`` so mmengine sums it.

    Args:
        model (nn.Module): The whole model (unwrapped).

    Returns:
        dict[str, Tensor]: Namespaced key -> scalar.
    """
    grouped: Dict[str, List[Tensor]] = {}
    for path, plugin in find_plugins(model, include_self=False):
        prefix = loss_namespace(path)
        for name, value in plugin.aux_losses().items():
            key = f'{prefix}.{name}' if prefix else name
            grouped.setdefault(key, []).append(value)
    return {key: values[0] if len(values) == 1 else torch.stack(
        [v.float() for v in values]).mean()
            for key, values in grouped.items()}


def collect_records(model: nn.Module) -> List[Tuple[str, str, Record]]:
    """The records of every plug-in of a model.

    Args:
        model (nn.Module): The model (unwrapped), or a plug-in.

    Returns:
        list[tuple[str, str, Record]]: ``(plug-in path, record name,
        record)``; the path is ``''`` for the model itself.
    """
    return [(path, name, record)
            for path, plugin in find_plugins(model)
            for name, record in plugin.records().items()]


def set_progress(model: nn.Module, epoch: float, iter: int,
                 max_epochs: Optional[int] = None,
                 max_iters: Optional[int] = None) -> None:
    """Call ``set_progress`` on every outermost plug-in of ``model``."""
    for _, plugin in find_plugins(model):
        plugin.set_progress(epoch, iter, max_epochs, max_iters)


class BaseTaskModule(Plugin, BaseModule):
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


class BaseSelector(BaseTaskModule):
    """Turns shared multi-scale features into one feature list per task.

    Contract: ``forward(feats) -> {task: [f_1^t, ..., f_S^t]}`` where
    ``feats[i]`` is ``(B, C_i, H_i, W_i)`` and each ``f_i^t`` keeps that
    shape. Arguments as :class:`BaseTaskModule`.
    """

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, List[Tensor]]:
        raise NotImplementedError


class BaseExpert(Plugin, BaseModule):
    """One expert: a map from features to features of the same shape."""


class BaseGating(Plugin, BaseModule):
    """Produces mixing weights that sum to one over dim 1 (experts/scales).

    Contract: ``forward(x) -> alpha`` with ``alpha.sum(1) == 1``; the shape of
    ``alpha`` is ``(B, K, ...)`` where the trailing dims say where the weights
    vary (per pixel, per channel, per image).
    """


class BaseRouter(Plugin, BaseModule):
    """Routes tokens or samples to experts."""


class BasePruner(Plugin, BaseModule):
    """Chooses which tokens to keep."""


class BaseTokenSelector(Plugin, BaseModule):
    """Chooses, fuses or condenses the tokens of one sequence (SPEC S2).

    Contract: ``forward(tokens (B, N, C), ...)`` returns tokens of width
    ``C`` (fewer of them), or a structure that holds them; the extra
    arguments are the component's own (global tokens, a decision).
    Unlike :class:`BaseSelector` it sees one sequence, not tasks.
    """


class BaseLayer(Plugin, BaseModule):
    """A building block whole models put into their own layers (e.g.
    :class:`~featsel.models.layers.MoEFFN` in place of a transformer FFN)."""


class BaseLoss(nn.Module):
    """A registered loss or regulariser: ``forward(...)`` returns a scalar
    (or named scalars); ``loss_name`` is its key where it has one."""
