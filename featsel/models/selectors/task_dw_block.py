"""Per-task depthwise sigmoid weights at one scale (SPEC S1, E1)."""
from typing import Dict, Optional, Sequence

import torch
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn

from ..base import GateRecord
from .scale_block import ScaleBlock

_WEIGHT_KINDS = ('channel', 'pixel')


class TaskDWBlock(ScaleBlock):
    """``w^t = sigmoid(Norm(DWConv^t(f)))``, ``f^t = w^t * f`` for each task.

    Per task ``t`` a depthwise ``k x k`` conv (no channel mixing, size kept),
    an optional norm, and a sigmoid. Nothing clips the pre-sigmoid from below
    (no ReLU), so a weight can close towards 0 as well as open towards 1.

    * ``weight='channel'``: ``w^t`` is (B, C, H, W), one weight per pixel and
      channel.
    * ``weight='pixel'``: a 1x1 conv ``C -> 1`` follows the norm, ``w^t`` is
      (B, 1, H, W), one weight per pixel shared by all channels.

    The last layer's bias starts at ``init_bias`` (sigmoid(2) = 0.88), so a
    fresh block passes the features almost unchanged and the decoders start
    from the baseline's input.

    Args:
        channels (int): Channels ``C`` of the scale.
        tasks (Sequence[str]): Task names; each gets its own weights.
        kernel_size (int): Depthwise kernel size (odd). Defaults to 3.
        weight (str): ``'channel'`` or ``'pixel'``. Defaults to
            ``'channel'``.
        norm_cfg (dict, optional): Norm after the depthwise conv, e.g.
            ``dict(type='BN')``. Defaults to None (none, the conv has a
            bias).
        detach_input (bool): Compute ``w^t`` from ``sg(f)``: the weights'
            gradient stops before the encoder, the product ``w^t * f``
            still passes gradient to ``f``. Defaults to False.
        return_weight (bool): Give ``w^t`` instead of ``w^t * f`` (a pixel
            map is expanded to ``C`` channels so the shape is kept).
            Defaults to False.
        init_bias (float): Initial bias of the last layer. Defaults to 2.0.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels: int,
                 tasks: Sequence[str],
                 kernel_size: int = 3,
                 weight: str = 'channel',
                 norm_cfg: Optional[dict] = None,
                 detach_input: bool = False,
                 return_weight: bool = False,
                 init_bias: float = 2.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(channels, tasks, init_cfg=init_cfg)
        if weight not in _WEIGHT_KINDS:
            raise ValueError(f'weight must be one of {_WEIGHT_KINDS}, got '
                             f'{weight!r}')
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.weight = weight
        self.detach_input = detach_input
        self.return_weight = return_weight
        self.init_bias = init_bias
        self.gates = nn.ModuleDict({
            task: self._make_gate(channels, kernel_size, weight, norm_cfg)
            for task in self.tasks
        })
        self.last_weights: Dict[str, Tensor] = {}
        self._init_gate_bias()

    @staticmethod
    def _make_gate(channels: int, kernel_size: int, weight: str,
                   norm_cfg: Optional[dict]) -> nn.Sequential:
        layers = [
            nn.Conv2d(channels, channels, kernel_size,
                      padding=kernel_size // 2, groups=channels,
                      bias=norm_cfg is None)
        ]
        if norm_cfg is not None:
            layers.append(build_norm_layer(norm_cfg, channels)[1])
        if weight == 'pixel':
            layers.append(nn.Conv2d(channels, 1, 1))
        return nn.Sequential(*layers)

    def _init_gate_bias(self) -> None:
        for gate in self.gates.values():
            last = [m for m in gate if getattr(m, 'bias', None) is not None]
            if last:
                with torch.no_grad():
                    last[-1].bias.fill_(self.init_bias)

    def init_weights(self) -> None:
        """Keep the open-gate start even when an outer init_cfg re-inits
        every conv."""
        super().init_weights()
        self._init_gate_bias()

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """Args: x (Tensor): (B, C, H, W).

        Returns:
            dict[str, Tensor]: per task ``w^t * x`` (or ``w^t``), (B, C, H, W).
        """
        gate_in = x.detach() if self.detach_input else x
        self.last_weights = {}
        out = {}
        for task, gate in self.gates.items():
            w = gate(gate_in).sigmoid()  # (B, C or 1, H, W)
            self.last_weights[task] = w
            out[task] = w.expand_as(x) if self.return_weight else w * x
        return out

    def records(self) -> Dict[str, GateRecord]:
        """Per task, kind ``'sigmoid'``: ``w^t`` (B, C or 1, H, W)."""
        return {task: GateRecord('sigmoid', w)
                for task, w in self.last_weights.items()}
