"""Low-rank experts shared by the tasks of a scale (SPEC S1, E2/E3)."""
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from ...registry import SELECTORS
from ..base import BaseSelector, GateRecord
from ..builder import build_expert, build_gating


class LowRankExpertBlock(nn.Module):
    """One scale: ``w^t = sum_k alpha_k^t * e_k(f)`` (+ ``f`` if residual).

    Args:
        channels (int): Channels ``C`` of the scale.
        tasks (Sequence[str]): Task names; each gets its own gate.
        experts (Sequence[dict]): Expert configs (``channels`` filled in).
        gating (dict): Gate config (``num_experts``/``channels`` filled in).
        residual (bool): Add the input to the mixture.
        detach_gate_input (bool): Stop the gates' gradient to the encoder.
    """

    def __init__(self, channels: int, tasks: Sequence[str],
                 experts: Sequence[dict], gating: dict, residual: bool,
                 detach_gate_input: bool) -> None:
        super().__init__()
        self.experts = nn.ModuleList(
            build_expert(cfg, channels=channels) for cfg in experts)
        self.gates = nn.ModuleDict({
            task: build_gating(gating, num_experts=len(self.experts),
                               channels=channels)
            for task in tasks
        })
        self.residual = residual
        self.detach_gate_input = detach_gate_input
        self.last_alphas: Dict[str, Tensor] = {}

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """Args: x: (B, C, H, W). Returns: per task (B, C, H, W)."""
        outs = torch.stack([e(x) for e in self.experts], dim=1)
        gate_in = x.detach() if self.detach_gate_input else x
        mixed = {}
        for task, gate in self.gates.items():
            alpha = gate(gate_in)  # (B, K, [C,] H, W) or (B, K, 1, 1)
            self.last_alphas[task] = alpha
            if alpha.dim() == 4:
                alpha = alpha.unsqueeze(2)
            w = (alpha * outs).sum(dim=1)
            mixed[task] = w + x if self.residual else w
        return mixed


@SELECTORS.register_module()
class LowRankExpertSelector(BaseSelector):
    """K experts per scale shared by the tasks, mixed by a gate per task.

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Channels of each scale.
        experts (Sequence[dict]): Expert configs used at every scale,
            e.g. four ``DWConvExpert`` (no prior) or 3x3 / 3x3 dilation 2 /
            5x5 / identity (weak prior).
        gating (dict): Gate config. Defaults to ``dict(type='ConvGating')``.
        residual (bool): Add ``f_i`` to the mixture. Defaults to False.
        detach_gate_input (bool): Stop-grad of the gate input. Defaults to
            True.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 in_channels: Sequence[int],
                 experts: Sequence[dict] = (dict(type='DWConvExpert'), ) * 4,
                 gating: dict = dict(type='ConvGating'),
                 residual: bool = False,
                 detach_gate_input: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(tasks, in_channels, init_cfg=init_cfg)
        self.blocks = nn.ModuleList(
            LowRankExpertBlock(c, self.tasks, experts, gating, residual,
                               detach_gate_input) for c in self.in_channels)

    def forward(self, feats: Sequence[Tensor]) -> Dict[str, List[Tensor]]:
        """Args: feats: ``f_i`` (B, C_i, H_i, W_i) per scale."""
        per_scale = [block(f) for block, f in zip(self.blocks, feats)]
        return {task: [m[task] for m in per_scale] for task in self.tasks}

    def gate_records(self) -> Dict[str, GateRecord]:
        """``'f<i>/<task>'``: alpha over the experts of scale ``i``."""
        return {
            f'f{i + 1}/{task}': GateRecord('softmax', alpha)
            for i, block in enumerate(self.blocks)
            for task, alpha in block.last_alphas.items()
        }
