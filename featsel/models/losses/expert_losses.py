"""Regularisers of the experts' outputs (SPEC S1, E2/E3)."""
import torch
from torch import Tensor

from ...registry import LOSSES
from ..base import BaseLoss, Example
from ..layers.expert_mixing import expert_gram_naive


@LOSSES.register_module()
class ExpertOrthogonalityLoss(BaseLoss):
    """Expert diversity: ``w * mean_b sum_{k != k'} cos(e_k, e_k')``.

    ``e_k`` is the output of expert ``k`` for one sample, flattened over
    ``C*H*W``; the sum runs over ordered pairs, so each pair counts twice.
    Known points: ``K(K-1) * w`` when all experts give the same output (up
    to a positive factor), 0 when their outputs are mutually orthogonal. The
    cosine is signed, so the loss goes below 0 for anti-correlated outputs,
    down to ``-K * w`` when the normalised outputs sum to zero; with
    ``absolute=True`` it sums ``|cos|`` and 0 is the minimum. An all-zero
    output has cosine 0 with everything.

    The cosines come from the per-sample Gram matrix
    ``G_{k,k'} = <e_k, e_k'>``: ``cos = G_{k,k'} / sqrt(G_{k,k} G_{k',k'})``.
    :meth:`forward` builds ``G`` from a stack of outputs; a selector passes
    ``G`` to :meth:`from_gram` instead, computed by
    :func:`featsel.models.layers.expert_gram` without the stack.

    Args:
        loss_weight (float): ``w``. Defaults to 1e-3.
        loss_name (str): Key in the loss dict. Defaults to
            ``'loss_expert_orth'``.
        absolute (bool): Penalise ``|cos|`` instead of ``cos``. Defaults to
            False.
        eps (float): Floor of the norms. Defaults to 1e-8.
    """

    example = Example(args=dict(loss_weight=1e-3),
                      run=lambda m: m(torch.randn(2, 4, 8, 6, 6)))

    def __init__(self,
                 loss_weight: float = 1e-3,
                 loss_name: str = 'loss_expert_orth',
                 absolute: bool = False,
                 eps: float = 1e-8) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name
        self.absolute = absolute
        self.eps = eps

    def forward(self, expert_outputs: Tensor) -> Tensor:
        """Args: expert_outputs (Tensor): (B, K, C, H, W) (or any
        (B, K, ...)). Returns: a scalar."""
        if expert_outputs.dim() < 3:
            raise ValueError(f'expert_outputs must be (B, K, C, H, W), got '
                             f'{tuple(expert_outputs.shape)}')
        return self.from_gram(expert_gram_naive(expert_outputs))

    def from_gram(self, gram: Tensor) -> Tensor:
        """Args: gram (Tensor): (B, K, K), ``<e_k, e_k'>`` per sample.
        Returns: a scalar."""
        if gram.dim() != 3 or gram.shape[1] != gram.shape[2]:
            raise ValueError(f'gram must be (B, K, K), got '
                             f'{tuple(gram.shape)}')
        norms = gram.diagonal(dim1=1, dim2=2).clamp_min(self.eps**2).sqrt()
        cos = gram / (norms.unsqueeze(2) * norms.unsqueeze(1))
        if self.absolute:
            cos = cos.abs()
        off_diag = cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(1)
        return self.loss_weight * off_diag.mean()
