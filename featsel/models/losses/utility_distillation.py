r"""Utility distillation of the MoE-I router (SPEC S3).

Every expert ``k`` restores each image of the router-training split; its
error ``MSE_k`` becomes a soft label

.. math::

    q_k = \frac{\exp(-\beta\, \mathrm{MSE}_k)}
               {\sum_j \exp(-\beta\, \mathrm{MSE}_j)}
        = \mathrm{softmax}_k(-\beta\, \mathrm{MSE})

(:func:`soft_utility_labels`; ``beta`` in {20, 50, 80}, chosen by
validation), and the router learns ``KL(q || p)`` with ``p`` its softmax
(:class:`SoftLabelKLLoss`). Experts that are nearly as good share the
label instead of the router being forced to pick one.
"""
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import LOSSES
from ..base import BaseLoss, Example


def soft_utility_labels(mse: Union[Tensor, np.ndarray, Sequence],
                        beta: float) -> Tensor:
    """Soft labels ``q = softmax(-beta * MSE)`` over the experts.

    Computed as a softmax (the largest exponent subtracted first), so
    large ``beta * MSE`` does not underflow to ``0 / 0``.

    Args:
        mse (Tensor | np.ndarray | Sequence): ``(N, K)`` mean squared error
            of every expert on every image, ``>= 0``.
        beta (float): Sharpness ``beta > 0``.

    Returns:
        Tensor: ``(N, K)``, float64 for numpy/list input, else the dtype
        of ``mse``; rows sum to one.
    """
    mse = torch.as_tensor(mse)
    if not mse.is_floating_point():
        mse = mse.double()
    if mse.dim() != 2 or mse.shape[1] < 1:
        raise ValueError(f'mse must be (N, K), got {tuple(mse.shape)}')
    if not torch.isfinite(mse).all() or (mse < 0).any():
        raise ValueError('mse must be finite and >= 0')
    if not beta > 0:
        raise ValueError(f'beta must be > 0, got {beta}')
    return (-beta * mse).softmax(-1)


@LOSSES.register_module()
class SoftLabelKLLoss(BaseLoss):
    r"""``KL(q || p)`` between given soft labels and the router's softmax.

    .. math::

        L = w \cdot \frac{1}{N} \sum_n \sum_k q_{nk}
            \left(\log q_{nk} - \log p_{nk}\right), \qquad
        p_n = \mathrm{softmax}(z_n)

    with ``0 log 0 = 0`` (an expert with ``q = 0`` adds nothing) and the
    sum over experts averaged over images ("batchmean"). ``q`` carries no
    gradient; the gradient w.r.t. the logits is ``w (p - q) / N``.

    Args:
        loss_weight (float): Multiplier ``w``. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_kl'``.
    """

    example = Example(
        args=dict(loss_weight=1.0),
        run=lambda m: m(torch.randn(4, 3),
                        soft_utility_labels(torch.rand(4, 3) * 0.05, 50.)))

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_kl') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Args: logits (Tensor): (N, K) router logits; target (Tensor):
        (N, K) soft labels ``q`` (rows sum to one). Returns: a scalar."""
        if logits.dim() != 2 or target.shape != logits.shape:
            raise ValueError(f'logits and target must both be (N, K), got '
                             f'{tuple(logits.shape)} and '
                             f'{tuple(target.shape)}')
        dtype = torch.promote_types(logits.dtype, torch.float32)
        log_p = F.log_softmax(logits.to(dtype), dim=-1)
        loss = F.kl_div(log_p, target.detach().to(log_p.dtype),
                        reduction='batchmean')
        return self.loss_weight * loss
