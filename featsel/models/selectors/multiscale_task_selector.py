"""Selectors that choose, scale by scale, how the tasks see the features
(SPEC S1: E1 TaskDW, E2/E3 depthwise experts, E4/E5 hybrids)."""
import inspect
import logging
import warnings
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model import ModuleList
from torch import Tensor

from ...registry import SELECTORS
from ...utils import ConfigError
from ..base import BaseSelector, Example, GateRecord
from .depthwise_expert_block import DepthwiseExpertBlock
from .scale_block import ScaleBlock, ScaleIdentityBlock
from .task_dw_block import TaskDWBlock

# plan entry -> (block class, selector argument holding its settings)
_BLOCKS = {
    'task_dw': (TaskDWBlock, 'task_dw'),
    'dw_experts': (DepthwiseExpertBlock, 'dw_experts'),
    'identity': (ScaleIdentityBlock, None),
}
#: Deprecated plan entries (and settings keys) -> their new names.
_RENAMED = {'lowrank': 'dw_experts'}


def _check_block_args(block_cls: type, args: dict, key: str) -> None:
    """Fail on a key the block does not take, naming the config key."""
    params = inspect.signature(block_cls.__init__).parameters
    known = set(params) - {'self', 'channels', 'tasks'}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ConfigError(
            f'{key} has unknown keys {unknown}; {block_cls.__name__} takes '
            f'{sorted(known)}')


def _warn_renamed(old: str, new: str) -> None:
    """A deprecation warning users see (``FutureWarning``)."""
    warnings.warn(f'{old} is deprecated, use {new}', FutureWarning,
                  stacklevel=3)


@SELECTORS.register_module()
class MultiScaleTaskSelector(BaseSelector):
    """One block per encoder scale, chosen by a per-scale ``plan``.

    ``plan[i]`` says what scale ``f_{i+1}`` does:

    * ``'task_dw'`` -- :class:`TaskDWBlock`:
      ``f_i^t = sigmoid(DWConv_i^t(f_i)) * f_i``;
    * ``'dw_experts'`` -- :class:`DepthwiseExpertBlock`:
      ``f_i^t = sum_k alpha_{i,k}^t * e_{i,k}(f_i)`` (``+ f_i``);
    * ``'identity'`` -- ``f_i^t = f_i``.

    Every block of a kind shares the settings given in ``task_dw`` or
    ``dw_experts``; channels and tasks are filled in per scale. So E1 is
    ``plan=['task_dw'] * 5``, E4 ``['task_dw'] * 4 + ['dw_experts']``, E5
    ``['task_dw'] * 3 + ['dw_experts'] * 2``. The old names ``'lowrank'``
    (plan entry) and ``lowrank=`` (settings) still work and warn.

    Shapes: ``forward([f_1..f_S])`` with ``f_i`` (B, C_i, H_i, W_i) returns
    ``{task: [f_1^t..f_S^t]}`` with the same shapes. ``records()``
    gives ``'f<i>/<task>'`` for every gated scale; ``aux_losses()`` gives
    each configured gate regulariser averaged over the scales and tasks
    that produced it and the experts' orthogonality summed over the scales
    (SPEC's ``sum_i``), under the loss's ``loss_name``.

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Channels ``C_i`` of each scale.
        plan (Sequence[str]): One of ``'task_dw'``, ``'dw_experts'``,
            ``'identity'`` per scale.
        task_dw (dict, optional): Arguments of every :class:`TaskDWBlock`
            (``kernel_size``, ``weight``, ``norm_cfg``, ``detach_input``,
            ``return_weight``, ``init_bias``).
        dw_experts (dict, optional): Arguments of every
            :class:`DepthwiseExpertBlock` (``experts``, ``gating``,
            ``residual``, ``detach_gate_input``, ``orth_loss``,
            ``gate_losses``).
        lowrank (dict, optional): Deprecated name of ``dw_experts``.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(
        args=dict(tasks=['seg', 'sdf'], in_channels=[4, 8],
                  plan=['task_dw', 'dw_experts'],
                  dw_experts=dict(
                      orth_loss=dict(type='ExpertOrthogonalityLoss'),
                      gate_losses=[dict(type='GateBalanceLoss')])),
        run=lambda m: m([torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]))

    def __init__(self,
                 tasks: Sequence[str],
                 in_channels: Sequence[int],
                 plan: Sequence[str],
                 task_dw: Optional[dict] = None,
                 dw_experts: Optional[dict] = None,
                 lowrank: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(tasks, in_channels, init_cfg=init_cfg)
        self.plan = self._check_plan(plan, len(self.in_channels))
        if lowrank is not None:
            if dw_experts is not None:
                raise ConfigError(
                    'model.selector: give dw_experts or its old name '
                    'lowrank, not both')
            _warn_renamed('model.selector.lowrank',
                          'model.selector.dw_experts')
            dw_experts = lowrank
        settings = dict(task_dw=dict(task_dw or {}),
                        dw_experts=dict(dw_experts or {}))
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
        old = sorted({p for p in plan if p in _RENAMED})
        if old:
            _warn_renamed(f'plan entries {old}', str(
                [_RENAMED[p] for p in old]))
        plan = [_RENAMED.get(p, p) for p in plan]
        unknown = [p for p in plan if p not in _BLOCKS]
        if unknown:
            raise ConfigError(
                f'model.selector.plan has unknown entries {unknown}; '
                f'choose from {sorted(_BLOCKS)}')
        return plan

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

    def records(self) -> Dict[str, GateRecord]:
        """``'f<i>/<task>'``: TaskDW weights (kind ``'sigmoid'``, (B, C or
        1, H, W)) or expert gates (kind ``'softmax'``, (B, K, ...))."""
        return {
            f'f{i + 1}/{task}': record
            for i, block in enumerate(self.blocks)
            for task, record in block.records().items()
        }

    def aux_losses(self) -> Dict[str, Tensor]:
        """Each per-task regulariser averaged over the scales and tasks of
        the last forward, each per-scale one (the experts' orthogonality)
        summed over the scales; empty when none is configured."""
        terms: Dict[str, List[Tensor]] = {}
        for block in self.blocks:
            for name, values in block.loss_terms().items():
                terms.setdefault(name, []).extend(values)
        losses = {name: torch.stack(values).mean()
                  for name, values in terms.items()}
        for block in self.blocks:
            for name, value in block.scale_terms().items():
                losses[name] = losses.get(name, 0) + value
        return losses

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

    example = Example(
        args=dict(tasks=['seg', 'sdf'], in_channels=[4, 8], weight='pixel'),
        run=lambda m: m([torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]))

    kind = 'task_dw'


@SELECTORS.register_module()
class DepthwiseExpertSelector(_FixedPlanSelector):
    """E2/E3: a :class:`DepthwiseExpertBlock` at every scale.

    ``f_i^t = sum_k alpha_{i,k}^t * e_{i,k}(f_i)`` (``+ f_i`` if residual).
    Keyword arguments are those of :class:`DepthwiseExpertBlock`: ``experts``
    (four ``DWConvExpert``), ``gating`` (``ConvGating``), ``residual``
    (False), ``detach_gate_input`` (True), ``orth_loss`` (None),
    ``gate_losses`` (none).

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Channels ``C_i`` of each scale.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(
        args=dict(tasks=['seg', 'sdf'], in_channels=[4, 8],
                  orth_loss=dict(type='ExpertOrthogonalityLoss'),
                  gate_losses=[dict(type='GateSharpnessLoss'),
                               dict(type='GateBalanceLoss')]),
        run=lambda m: m([torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]))

    kind = 'dw_experts'


@SELECTORS.register_module()
class LowRankExpertSelector(DepthwiseExpertSelector):
    """Deprecated name of :class:`DepthwiseExpertSelector` (its experts are
    depthwise convolutions, not low-rank ones); warns when built."""

    def __init__(self, *args, **kwargs) -> None:
        _warn_renamed('LowRankExpertSelector', 'DepthwiseExpertSelector')
        super().__init__(*args, **kwargs)
