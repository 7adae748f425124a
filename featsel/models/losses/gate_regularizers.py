"""Regularisers of mixing weights ``alpha`` (softmax over dim 1).

The sign of each term is in its name: every loss here is minimised and is 0
at its ideal point.

* :class:`GateSharpnessLoss` -- mean per-position entropy ``H(alpha)``;
  minimising it makes each position choose (0 for one-hot gates).
* :class:`GateBalanceLoss` -- ``log K - H(mean alpha)``; minimising it spreads
  the batch-level use over all experts (0 at uniform use).
* :class:`ScaleSmoothnessLoss` -- mean squared difference of the weights of
  neighbouring experts along dim 1, for gates over ordered scales
  (minimised by the uniform gate: it works against the sharpness term).
* :class:`SpatialSmoothnessLoss` -- total variation of the gate maps over
  the image plane; minimising it makes neighbouring pixels choose alike
  (0 for a constant map, one-hot or not: it agrees with the sharpness term).
"""
import math

import torch
from torch import Tensor

from ...registry import LOSSES
from ..base import BaseLoss, Example

_EPS = 1e-12


def entropy(p: Tensor, dim: int = 1) -> Tensor:
    """Shannon entropy (nats) of distributions along ``dim``."""
    return -(p * p.clamp_min(_EPS).log()).sum(dim)


class _GateLoss(BaseLoss):
    """Common arguments of the gate regularisers.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Key of the loss in the loss dict; must start with
            ``loss_`` to be optimised.
    """

    # every gate regulariser takes the same example: per-pixel gates
    example = Example(
        args=dict(loss_weight=0.1),
        run=lambda m: m(torch.randn(2, 4, 6, 6).softmax(dim=1)))

    def __init__(self, loss_weight: float, loss_name: str) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, alpha: Tensor) -> Tensor:
        """Args: alpha (Tensor): (B, K, ...), sums to one over dim 1."""
        return self.loss_weight * self.value(alpha)

    def value(self, alpha: Tensor) -> Tensor:
        raise NotImplementedError


@LOSSES.register_module()
class GateSharpnessLoss(_GateLoss):
    """``mean_positions H(alpha)``: low when each position picks one expert."""

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_gate_sharpness') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, alpha: Tensor) -> Tensor:
        return entropy(alpha).mean()


@LOSSES.register_module()
class GateBalanceLoss(_GateLoss):
    """``log K - H(mean alpha)``: low when the experts are used evenly."""

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_gate_balance') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, alpha: Tensor) -> Tensor:
        k = alpha.shape[1]
        usage = alpha.transpose(0, 1).reshape(k, -1).mean(1)
        return math.log(k) - entropy(usage, dim=0)


@LOSSES.register_module()
class ScaleSmoothnessLoss(_GateLoss):
    """``mean (alpha_{i+1} - alpha_i)^2`` over neighbouring scales ``i``."""

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_scale_smoothness') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, alpha: Tensor) -> Tensor:
        if alpha.shape[1] < 2:
            return alpha.new_zeros(())
        return torch.diff(alpha, dim=1).pow(2).mean()


@LOSSES.register_module()
class SpatialSmoothnessLoss(_GateLoss):
    """Total variation of the gate maps over the image plane:
    ``mean |alpha[.., h+1, w] - alpha[.., h, w]| +
    mean |alpha[.., h, w+1] - alpha[.., h, w]|``.

    For ``alpha`` of shape (B, K, [C,] H, W); a dimension of size 1 (e.g.
    per-image gates (B, K, 1, 1)) adds nothing. 0 for maps constant over
    the plane; a one-hot gate that switches scale along a boundary pays
    for the boundary only, so this term and :class:`GateSharpnessLoss`
    are minimised together by piecewise-constant one-hot gates.
    """

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_spatial_smoothness') -> None:
        super().__init__(loss_weight, loss_name)

    def value(self, alpha: Tensor) -> Tensor:
        total = alpha.new_zeros(())
        for dim in (-2, -1):
            if alpha.shape[dim] > 1:
                total = total + torch.diff(alpha, dim=dim).abs().mean()
        return total
