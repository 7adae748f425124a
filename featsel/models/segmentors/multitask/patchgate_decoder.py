"""Single-stage decoder that mixes all scales per task with a gate (E6)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from ....registry import MODELS
from ...base import GateRecord
from ...builder import build_gating, build_loss
from .base_task_decoder import BaseTaskDecoder


class _GatedScaleSum(torch.autograd.Function):
    """``F = sum_i alpha_i * f̂_i`` and the gate regularisers of ``alpha``
    in one node.

    Saves only ``alpha`` and the stack (what the product needs anyway); the
    regularisers run without autograd in forward and again, for their
    gradient, inside this node's backward, so their intermediate maps are
    never kept and their ``alpha``-sized gradient exists only while the
    node runs. ``apply(losses, alpha, stacked)`` returns
    ``(F, *loss values)``.
    """

    @staticmethod
    def forward(ctx, losses, alpha: Tensor, stacked: Tensor):
        ctx.losses = losses
        ctx.save_for_backward(alpha, stacked)
        with torch.no_grad():
            values = [loss(alpha) for loss in losses]
        return ((alpha * stacked).sum(dim=1), *values)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_fused: Tensor, *grad_values: Tensor):
        alpha, stacked = ctx.saved_tensors
        grad_fused = grad_fused.unsqueeze(1)
        grad_stacked = grad_fused * alpha if ctx.needs_input_grad[2] else None
        grad_alpha = None
        if ctx.needs_input_grad[1]:
            grad_alpha = (grad_fused * stacked).sum(2, keepdim=True) \
                if alpha.shape[2] == 1 else grad_fused * stacked
            if ctx.losses:
                with torch.enable_grad():
                    leaf = alpha.detach().requires_grad_()
                    values = [loss(leaf) for loss in ctx.losses]
                    grad_alpha += torch.autograd.grad(values, leaf,
                                                      grad_values)[0]
        return None, grad_alpha, grad_stacked


@MODELS.register_module()
class PatchGateDecoder(BaseTaskDecoder):
    """Patcher-style gated fusion of the encoder scales, one gate per task.

    1. ``f̂_i = Up(Conv1x1_i(f_i))`` to the size of scale ``fusion_level``
       (``C`` channels each). A 1x1 conv commutes with bilinear and
       nearest interpolation, so projecting before upsampling equals
       SPEC's ``Conv1x1(Up(f_i))`` at a fraction of the cost.
    2. ``F = concat(f̂_1..f̂_S)``, scale-major: ``(B, S*C, H, W)``.
    3. ``alpha^t = gate^t(F)`` (``F`` detached when ``detach_gate_input``),
       softmax over the ``S`` scales.
    4. ``F^t = sum_i alpha_i^t * f̂_i``, then an optional 3x3 refine conv.

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Encoder channels ``C_1..C_S``.
        channels (int): Common width ``C``. Defaults to 32.
        gate (dict): Gate config (a ``SoftmaxGating``); ``num_experts`` and
            ``channels`` are filled in. Defaults to ``ChannelDWScaleGate``.
        fusion_level (int): Index of the scale whose size the fusion uses
            (0 = f1, full resolution). Defaults to 0.
        upsample_mode (str): ``'bilinear'`` or ``'nearest'``. Defaults to
            ``'bilinear'``.
        refine (bool): Add the per-task 3x3 refine conv. Defaults to True.
        detach_gate_input (bool): Stop the gate's gradient from reaching the
            projections and the encoder. Defaults to True.
        gate_losses (list[dict]): Gate regularisers, each called on every
            task's ``alpha`` during the training forward and averaged over
            the tasks. Defaults to none.
        with_cp (bool): In training, checkpoint each task's gate and
            fusion: backward recomputes the gate instead of keeping its
            logits and ``alpha``. Defaults to False.
        norm_cfg (dict): Norm of the refine conv. Defaults to BN.
        act_cfg (dict): Activation of the refine conv. Defaults to ReLU.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 in_channels: Sequence[int],
                 channels: int = 32,
                 gate: dict = dict(type='ChannelDWScaleGate'),
                 fusion_level: int = 0,
                 upsample_mode: str = 'bilinear',
                 refine: bool = True,
                 detach_gate_input: bool = True,
                 gate_losses: Sequence[dict] = (),
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(tasks, in_channels, init_cfg=init_cfg)
        num_scales = len(self.in_channels)
        if not 0 <= fusion_level < num_scales:
            raise ValueError(f'fusion_level={fusion_level} is outside the '
                             f'{num_scales} encoder scales')
        if upsample_mode not in ('bilinear', 'nearest'):
            raise ValueError(f"upsample_mode must be 'bilinear' or "
                             f"'nearest', got {upsample_mode!r}")
        self.out_channels = channels
        self.fusion_level = fusion_level
        self.upsample_mode = upsample_mode
        self.detach_gate_input = detach_gate_input
        self.with_cp = with_cp
        self.projections = nn.ModuleList(
            nn.Conv2d(c, channels, 1) for c in self.in_channels)
        self.gates = nn.ModuleDict({
            task: build_gating(
                gate, num_experts=num_scales, channels=channels)
            for task in self.tasks
        })
        self.refines = nn.ModuleDict({
            task: ConvModule(channels, channels, 3, padding=1,
                             norm_cfg=norm_cfg, act_cfg=act_cfg)
            if refine else nn.Identity()
            for task in self.tasks
        })
        self.gate_losses = nn.ModuleList(
            build_loss(cfg) for cfg in gate_losses)
        self.last_alphas: Dict[str, Tensor] = {}
        self._last_losses: Dict[str, Tuple[Tensor, ...]] = {}

    def project(self, feats: List[Tensor]) -> Tensor:
        """Project and upsample every scale; returns (B, S, C, H*, W*)."""
        size = feats[self.fusion_level].shape[-2:]
        projected = []
        for proj, feat in zip(self.projections, feats):
            x = proj(feat)
            if x.shape[-2:] != size:
                x = F.interpolate(
                    x, size=size, mode=self.upsample_mode,
                    align_corners=False
                    if self.upsample_mode == 'bilinear' else None)
            projected.append(x)
        return torch.stack(projected, dim=1)

    def _fuse(self, task: str, stacked: Tensor) -> Tuple[Tensor, ...]:
        """``(F^t, alpha^t, *regulariser values)`` of one task; a pure
        function of ``stacked`` and the parameters, so it can be
        checkpointed. The regularisers run in training only."""
        b, s, c, h, w = stacked.shape
        concat = stacked.view(b, s * c, h, w)
        gate_in = concat.detach() if self.detach_gate_input else concat
        alpha = self.gates[task](gate_in)
        losses = tuple(self.gate_losses) if self.training else ()
        fused, *values = _GatedScaleSum.apply(losses, alpha, stacked)
        return (fused, alpha, *values)

    def forward(self,
                task_feats: Dict[str, List[Tensor]]) -> Dict[str, Tensor]:
        """Args: task_feats: per task, ``f_i`` (B, C_i, H_i, W_i).

        Returns:
            dict: per task, (B, C, H*, W*) at the fusion level's size.
        """
        self.last_alphas, self._last_losses = {}, {}
        shared = {}  # tasks fed the same features share the projection
        out = {}
        for task in self.tasks:
            feats = task_feats[task]
            key = tuple(id(f) for f in feats)
            if key not in shared:
                shared[key] = self.project(feats)
            stacked = shared[key]
            if self.with_cp and self.training and stacked.requires_grad:
                fused, alpha, *losses = cp.checkpoint(
                    self._fuse, task, stacked, use_reentrant=False)
            else:
                fused, alpha, *losses = self._fuse(task, stacked)
            self.last_alphas[task] = alpha
            self._last_losses[task] = tuple(losses)
            out[task] = self.refines[task](fused)
        return out

    def records(self) -> Dict[str, GateRecord]:
        """``'fused/<task>'``: alpha over the scales, (B, S, C or 1, H, W)."""
        return {f'fused/{task}': GateRecord('softmax', alpha)
                for task, alpha in self.last_alphas.items()}

    def aux_losses(self) -> Dict[str, Tensor]:
        """Gate regularisers averaged over the tasks of the last forward."""
        values = [v for v in self._last_losses.values() if v]
        if not values:
            return {}
        return {loss.loss_name: torch.stack([v[i] for v in values]).mean()
                for i, loss in enumerate(self.gate_losses)}
