"""Selectors that choose, scale by scale, how the tasks see the features
(SPEC S1: E1 TaskDW, E2/E3 low-rank experts, E4/E5 hybrids)."""
import inspect
import logging
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model import ModuleList
from torch import Tensor

from ...registry import SELECTORS
from ...utils import ConfigError
from ..base import BaseSelector, GateRecord
from .lowrank_expert_block import LowRankExpertBlock
from .scale_block import ScaleBlock, ScaleIdentityBlock
from .task_dw_block import TaskDWBlock

# plan entry -> (block class, selector argument holding its settings)
_BLOCKS = {
    'task_dw': (TaskDWBlock, 'task_dw'),
    'lowrank': (LowRankExpertBlock, 'lowrank'),
    'identity': (ScaleIdentityBlock, None),
}


def _check_block_args(block_cls: type, args: dict, key: str) -> None:
    """Fail on a key the block does not take, naming the config key."""
    params = inspect.signature(block_cls.__init__).parameters
    known = set(params) - {'self', 'channels', 'tasks'}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ConfigError(
            f'{key} has unknown keys {unknown}; {block_cls.__name__} takes '
            f'{sorted(known)}')


@SELECTORS.register_module()
class MultiScaleTaskSelector(BaseSelector):
    """One block per encoder scale, chosen by a per-scale ``plan``.

    ``plan[i]`` says what scale ``f_{i+1}`` does:

    * ``'task_dw'`` -- :class:`TaskDWBlock`:
      ``f_i^t = sigmoid(DWConv_i^t(f_i)) * f_i``;
    * ``'lowrank'`` -- :class:`LowRankExpertBlock`:
      ``f_i^t = sum_k alpha_{i,k}^t * e_{i,k}(f_i)`` (``+ f_i``);
    * ``'identity'`` -- ``f_i^t = f_i``.

    Every block of a kind shares the settings given in ``task_dw`` or
    ``lowrank``; channels and tasks are filled in per scale. So E1 is
    ``plan=['task_dw'] * 5``, E4 ``['task_dw'] * 4 + ['lowrank']``, E5
    ``['task_dw'] * 3 + ['lowrank'] * 2``.

    Shapes: ``forward([f_1..f_S])`` with ``f_i`` (B, C_i, H_i, W_i) returns
    ``{task: [f_1^t..f_S^t]}`` with the same shapes. ``gate_records()``
    gives ``'f<i>/<task>'`` for every gated scale; ``aux_losses()`` gives
    each configured regulariser averaged over the scales and tasks that
    produced it, under the loss's ``loss_name``.

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Channels ``C_i`` of each scale.
        plan (Sequence[str]): One of ``'task_dw'``, ``'lowrank'``,
            ``'identity'`` per scale.
        task_dw (dict, optional): Arguments of every :class:`TaskDWBlock`
            (``kernel_size``, ``weight``, ``norm_cfg``, ``detach_input``,
            ``return_weight``, ``init_bias``).
        lowrank (dict, optional): Arguments of every
            :class:`LowRankExpertBlock` (``experts``, ``gating``,
            ``residual``, ``detach_gate_input``, ``orth_loss``,
            ``gate_losses``).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 in_channels: Sequence[int],
                 plan: Sequence[str],
                 task_dw: Optional[dict] = None,
                 lowrank: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(tasks, in_channels, init_cfg=init_cfg)
        self.plan = self._check_plan(plan, len(self.in_channels))
        settings = dict(task_dw=dict(task_dw or {}),
                        lowrank=dict(lowrank or {}))
        for name, args in settings.items():
            if args and name not in self.plan:
                print_log(
                    f'model.selector.{name} is set but the plan '
                    f'{self.plan} has no {name!r} scale; it is not used',
                    logger='current', level=logging.WARNING)
        # mmengine's ModuleList, so init_weights() reaches the blocks
        self.blocks = ModuleList()
        for channels, kind in zip(self.in_channels, self.plan):
            block_cls, arg_name = _BLOCKS[kind]
            args = settings[arg_name] if arg_name else {}
            key = self._settings_key(arg_name)
            _check_block_args(block_cls, args, key)
            try:
                block = block_cls(channels, self.tasks, **args)
            except (TypeError, ValueError) as err:
                raise ConfigError(f'{key}: {err}') from err
            self.blocks.append(block)

    @staticmethod
    def _check_plan(plan: Sequence[str], num_scales: int) -> List[str]:
        if isinstance(plan, str) or len(plan) != num_scales:
            raise ConfigError(
                f'model.selector.plan must name one of {sorted(_BLOCKS)} '
                f'for each of the {num_scales} encoder scales, got {plan!r}')
        unknown = [p for p in plan if p not in _BLOCKS]
        if unknown:
            raise ConfigError(
                f'model.selector.plan has unknown entries {unknown}; '
                f'choose from {sorted(_BLOCKS)}')
        return list(plan)

    def _settings_key(self, arg_name: Optional[str]) -> str:
        """Where a block's settings sit in the config (for messages)."""
        return f'model.selector.{arg_name}'

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, List[Tensor]]:
        """Args: feats (list[Tensor]): ``f_i`` (B, C_i, H_i, W_i) per scale.

        Returns:
            dict[str, list[Tensor]]: per task, ``f_i^t`` with ``f_i``'s shape.
        """
        if len(feats) != len(self.blocks):
            raise ValueError(f'expected {len(self.blocks)} scales, got '
                             f'{len(feats)}')
        per_scale = [block(f) for block, f in zip(self.blocks, feats)]
        return {task: [m[task] for m in per_scale] for task in self.tasks}

    def gate_records(self) -> Dict[str, GateRecord]:
        """``'f<i>/<task>'``: TaskDW weights (kind ``'sigmoid'``, (B, C or
        1, H, W)) or expert gates (kind ``'softmax'``, (B, K, ...))."""
        return {
            f'f{i + 1}/{task}': record
            for i, block in enumerate(self.blocks)
            for task, record in block.gate_records().items()
        }

    def aux_losses(self) -> Dict[str, Tensor]:
        """Each regulariser averaged over the scales and tasks of the last
        forward; empty when none is configured."""
        terms: Dict[str, List[Tensor]] = {}
        for block in self.blocks:
            for name, values in block.loss_terms().items():
                terms.setdefault(name, []).extend(values)
        return {name: torch.stack(values).mean()
                for name, values in terms.items()}

    def blocks_of(self, kind: str) -> List[ScaleBlock]:
        """The blocks the plan made of one kind, in scale order."""
        return [b for b, p in zip(self.blocks, self.plan) if p == kind]


class _FixedPlanSelector(MultiScaleTaskSelector):
    """A :class:`MultiScaleTaskSelector` with one block kind at every scale;
    the block's arguments are the selector's own keyword arguments."""

    kind: str = ''

    def __init__(self,
                 tasks: Sequence[str],
                 in_channels: Sequence[int],
                 init_cfg: Optional[dict] = None,
                 **block_args) -> None:
        if 'plan' in block_args:
            raise ConfigError(
                f'model.selector.plan: {type(self).__name__} uses '
                f'{self.kind!r} at every scale; use MultiScaleTaskSelector '
                'to choose per scale')
        super().__init__(tasks, in_channels,
                         plan=[self.kind] * len(in_channels),
                         init_cfg=init_cfg, **{self.kind: block_args})

    def _settings_key(self, arg_name: Optional[str]) -> str:
        return 'model.selector'


@SELECTORS.register_module()
class TaskDWSelector(_FixedPlanSelector):
    """E1: a :class:`TaskDWBlock` at every scale.

    ``w_i^t = sigmoid(Norm(DWConv_i^t(f_i)))``, ``f_i^t = w_i^t * f_i``.
    Keyword arguments are those of :class:`TaskDWBlock`: ``kernel_size``
    (3), ``weight`` (``'channel'`` | ``'pixel'``), ``norm_cfg`` (None),
    ``detach_input`` (False), ``return_weight`` (False), ``init_bias`` (2.0).

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Channels ``C_i`` of each scale.
        init_cfg (dict, optional): Initialisation config.
    """

    kind = 'task_dw'


@SELECTORS.register_module()
class LowRankExpertSelector(_FixedPlanSelector):
    """E2/E3: a :class:`LowRankExpertBlock` at every scale.

    ``f_i^t = sum_k alpha_{i,k}^t * e_{i,k}(f_i)`` (``+ f_i`` if residual).
    Keyword arguments are those of :class:`LowRankExpertBlock`: ``experts``
    (four ``DWConvExpert``), ``gating`` (``ConvGating``), ``residual``
    (False), ``detach_gate_input`` (True), ``orth_loss`` (None),
    ``gate_losses`` (none).

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Channels ``C_i`` of each scale.
        init_cfg (dict, optional): Initialisation config.
    """

    kind = 'lowrank'
