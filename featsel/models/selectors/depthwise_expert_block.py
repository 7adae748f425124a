"""Depthwise experts shared by the tasks of one scale (SPEC S1, E2/E3)."""
from typing import Dict, List, Optional, Sequence, Union

import warnings

from torch import Tensor, nn

from ...registry import LOSSES
from ..base import BaseGating, GateRecord
from ..builder import build_expert, build_gating, build_loss
from ..layers import expert_gram, mix_experts_shared
from .scale_block import ScaleBlock


def _gating_class(cfg: Union[dict, nn.Module]) -> type:
    """The class a gating config builds, resolved as the builder would."""
    if isinstance(cfg, nn.Module):
        return type(cfg)
    gate_type = cfg['type']
    if isinstance(gate_type, type):
        return gate_type
    with LOSSES.switch_scope_and_registry(cfg.get('_scope_')) as registry:
        cls = registry.get(gate_type)
    if cls is None:
        raise KeyError(f'gating type {gate_type!r} is not registered')
    return cls


class DepthwiseExpertBlock(ScaleBlock):
    """One scale: ``f^t = sum_k alpha_k^t * e_k(f)`` (``+ f`` if residual).

    ``K`` experts ``e_k`` (depthwise convs, identity, ...) are shared by all
    tasks of the scale; each task mixes them with its own gate
    ``alpha^t = gate^t(sg(f))``, a softmax over ``K`` of shape
    (B, K, H, W) (per pixel), (B, K, 1, 1) (per image) or (B, K, C, H, W)
    (per pixel and channel). The mixture goes through
    :func:`featsel.models.layers.mix_experts_shared` (each expert runs
    once for all tasks), which does not keep a
    (B, K, C, H, W) stack for depthwise and identity experts.

    Gating: a plain gating class is built once per task; a class with
    ``task_conditioned = True`` is built once, shared, with ``tasks=[...]``,
    and called ``gate(x, task=t)``.

    Regularisers (none unless configured, nothing computed otherwise):
    ``orth_loss`` on the experts' outputs for the last input (computed
    from their Gram matrix when :meth:`scale_terms` is asked, without a
    ``(B, K, C, H, W)`` stack, so inference never pays for
    it), ``gate_losses`` on every task's ``alpha``.

    Args:
        channels (int): Channels ``C`` of the scale.
        tasks (Sequence[str]): Task names.
        experts (Sequence[dict]): Expert configs; ``channels`` is filled in.
            Defaults to four ``DWConvExpert`` 3x3.
        gating (dict): Gate config; ``num_experts`` and ``channels`` (and
            ``tasks`` for task-conditioned gates) are filled in. Defaults to
            ``dict(type='ConvGating')``.
        residual (bool): Add ``f`` to the mixture. Defaults to False.
        detach_gate_input (bool): Stop the gates' gradient to the encoder
            (the experts' path still reaches it). Defaults to True.
        orth_loss (dict, optional): Expert diversity loss, e.g.
            ``dict(type='ExpertOrthogonalityLoss', loss_weight=1e-3)``.
        gate_losses (Sequence[dict]): Gate regularisers called on each
            task's ``alpha``, e.g. ``GateBalanceLoss``. Defaults to none.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels: int,
                 tasks: Sequence[str],
                 experts: Sequence[dict] = (dict(type='DWConvExpert'), ) * 4,
                 gating: dict = dict(type='ConvGating'),
                 residual: bool = False,
                 detach_gate_input: bool = True,
                 orth_loss: Optional[dict] = None,
                 gate_losses: Sequence[dict] = (),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(channels, tasks, init_cfg=init_cfg)
        if not experts:
            raise ValueError('experts is empty; give at least one expert')
        self.experts = nn.ModuleList(
            build_expert(cfg, channels=channels) for cfg in experts)
        num_experts = len(self.experts)
        self.task_conditioned = bool(
            getattr(_gating_class(gating), 'task_conditioned', False))
        if self.task_conditioned:
            self.shared_gate = build_gating(
                gating, num_experts=num_experts, channels=channels,
                tasks=self.tasks)
            self.gates = nn.ModuleDict()
        else:
            if isinstance(gating, nn.Module) and len(self.tasks) > 1:
                raise ValueError(
                    'gating is a module, which the tasks would share; give '
                    'a config so each task builds its own gate')
            self.shared_gate = None
            self.gates = nn.ModuleDict({
                task: build_gating(gating, num_experts=num_experts,
                                   channels=channels)
                for task in self.tasks
            })
        self.residual = residual
        self.detach_gate_input = detach_gate_input
        self.orth_loss = None if orth_loss is None else build_loss(
            orth_loss)
        self.gate_losses = nn.ModuleList(
            build_loss(cfg) for cfg in gate_losses)
        self.last_alphas: Dict[str, Tensor] = {}
        self._last_input: Optional[Tensor] = None

    def gate(self, task: str) -> BaseGating:
        """The gating that gives ``alpha^t`` (shared when task-conditioned)."""
        return self.shared_gate if self.task_conditioned else self.gates[task]

    def alpha(self, x: Tensor, task: str) -> Tensor:
        """``alpha^t`` of features ``x`` (B, C, H, W): (B, K, ...), sums to
        one over dim 1. No stop-gradient here; :meth:`forward` applies it."""
        if self.task_conditioned:
            return self.shared_gate(x, task=task)
        return self.gates[task](x)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """Args: x (Tensor): (B, C, H, W). Returns: per task (B, C, H, W)."""
        gate_in = x.detach() if self.detach_gate_input else x
        self.last_alphas = {}
        self._last_input = x if self.orth_loss is not None else None
        self.last_alphas = {
            task: self.alpha(gate_in, task) for task in self.tasks}
        # each expert runs once (forward and backward) for all the tasks
        mixed = mix_experts_shared(x, list(self.last_alphas.values()),
                                   self.experts)
        return {task: m + x if self.residual else m
                for task, m in zip(self.tasks, mixed)}

    def records(self) -> Dict[str, GateRecord]:
        """Per task, kind ``'softmax'``: ``alpha^t`` (B, K, ...)."""
        return {task: GateRecord('softmax', alpha)
                for task, alpha in self.last_alphas.items()}

    def loss_terms(self) -> Dict[str, List[Tensor]]:
        """One value per task for each gate loss."""
        terms: Dict[str, List[Tensor]] = {}
        for loss in self.gate_losses:
            terms.setdefault(loss.loss_name, []).extend(
                loss(alpha) for alpha in self.last_alphas.values())
        return terms

    def scale_terms(self) -> Dict[str, Tensor]:
        """The experts' orthogonality on the last input, from their Gram
        matrix (:func:`~featsel.models.layers.expert_gram`: no
        (B, K, C, H, W) stack for depthwise and identity experts)."""
        if self.orth_loss is None or self._last_input is None:
            return {}
        gram = expert_gram(self._last_input, self.experts)
        return {self.orth_loss.loss_name: self.orth_loss.from_gram(gram)}


class LowRankExpertBlock(DepthwiseExpertBlock):
    """Deprecated name of :class:`DepthwiseExpertBlock` (its experts are
    depthwise convolutions, not low-rank ones); warns when built."""

    def __init__(self, *args, **kwargs) -> None:
        warnings.warn(
            'LowRankExpertBlock is deprecated, use DepthwiseExpertBlock',
            FutureWarning, stacklevel=2)
        super().__init__(*args, **kwargs)
