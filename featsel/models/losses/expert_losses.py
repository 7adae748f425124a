"""Regularisers of the experts' outputs (SPEC S1, E2/E3)."""
from torch import Tensor, nn

from ...registry import MODELS


@MODELS.register_module()
class ExpertOrthogonalityLoss(nn.Module):
    """Expert diversity: ``w * mean_b sum_{k != k'} cos(e_k, e_k')``.

    ``e_k`` is the output of expert ``k`` for one sample, flattened over
    ``C*H*W``; the sum runs over ordered pairs, so each pair counts twice.
    Known points: ``K(K-1) * w`` when all experts give the same output (up
    to a positive factor), 0 when their outputs are mutually orthogonal. The
    cosine is signed, so the loss goes below 0 for anti-correlated outputs,
    down to ``-K * w`` when the normalised outputs sum to zero; with
    ``absolute=True`` it sums ``|cos|`` and 0 is the minimum. An all-zero
    output has cosine 0 with everything.

    Args:
        loss_weight (float): ``w``. Defaults to 1e-3.
        loss_name (str): Key in the loss dict. Defaults to
            ``'loss_expert_orth'``.
        absolute (bool): Penalise ``|cos|`` instead of ``cos``. Defaults to
            False.
        eps (float): Floor of the norms. Defaults to 1e-8.
    """

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
        b, k = expert_outputs.shape[:2]
        flat = expert_outputs.reshape(b, k, -1).float()
        # cosines from the Gram matrix: no normalised copy of the outputs
        gram = flat @ flat.transpose(1, 2)  # (B, K, K)
        norms = gram.diagonal(dim1=1, dim2=2).clamp_min(
            self.eps**2).sqrt()
        cos = gram / (norms.unsqueeze(2) * norms.unsqueeze(1))
        if self.absolute:
            cos = cos.abs()
        off_diag = cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(1)
        return self.loss_weight * off_diag.mean()
