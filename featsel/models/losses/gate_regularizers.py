"""Regularisers of mixing weights ``alpha`` (softmax over dim 1).

The sign of each term is in its name: every loss here is minimised and is 0
at its ideal point.

* :class:`GateSharpnessLoss` -- mean per-position entropy ``H(alpha)``;
  minimising it makes each position choose (0 for one-hot gates).
* :class:`GateBalanceLoss` -- ``log K - H(mean alpha)``; minimising it spreads
  the batch-level use over all experts (0 at uniform use).
* :class:`ScaleSmoothnessLoss` -- mean squared difference of the weights of
  neighbouring experts along dim 1, for gates over ordered scales.
"""
import math

import torch
from torch import Tensor, nn

from ...registry import MODELS

_EPS = 1e-12


def entropy(p: Tensor, dim: int = 1) -> Tensor:
    """Shannon entropy (nats) of distributions along ``dim``."""
    return -(p * p.clamp_min(_EPS).log()).sum(dim)


class _GateLoss(nn.Module):
    """Common arguments of the gate regularisers.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Key of the loss in the loss dict; must start with
            ``loss_`` to be optimised.
    """

    def __init__(self, loss_weight: float, loss_name: str) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, alpha: Tensor) -> Tensor:
        """Args: alpha (Tensor): (B, K, ...), sums to one over dim 1."""
        return self.loss_weight * self.value(alpha)

    def value(self, alpha: Tensor) -> Tensor:
        raise NotImplementedError


@MODELS.register_module()
class GateSharpnessLoss(_GateLoss):
    """``mean_positions H(alpha)``: low when each position picks one expert."""

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_gate_sharpness') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, alpha: Tensor) -> Tensor:
        return entropy(alpha).mean()


@MODELS.register_module()
class GateBalanceLoss(_GateLoss):
    """``log K - H(mean alpha)``: low when the experts are used evenly."""

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_gate_balance') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, alpha: Tensor) -> Tensor:
        k = alpha.shape[1]
        usage = alpha.transpose(0, 1).reshape(k, -1).mean(1)
        return math.log(k) - entropy(usage, dim=0)


@MODELS.register_module()
class ScaleSmoothnessLoss(_GateLoss):
    """``mean (alpha_{i+1} - alpha_i)^2`` over neighbouring scales ``i``."""

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_scale_smoothness') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, alpha: Tensor) -> Tensor:
        if alpha.shape[1] < 2:
            return alpha.new_zeros(())
        return torch.diff(alpha, dim=1).pow(2).mean()
