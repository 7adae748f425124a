"""Token pruner with a learned spatial prior on where tokens matter."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import PRUNERS
from ..base import Example
from .token_pruner import LearnableTokenPruner


@PRUNERS.register_module()
class SpatialPriorTokenPruner(LearnableTokenPruner):
    """:class:`LearnableTokenPruner` plus a learned prior logit map.

    ``logit(p) = MLP(x_p) + resize(P)(p)``, where ``P`` is a learnable
    ``prior_size`` map (zeros at init, so the pruner starts as the plain
    one) resized bilinearly to the token grid ``(H, W)``. The prior lets the
    pruner learn, for instance, that the sky band of a fixed roadside camera
    rarely holds objects. Everything else (schedule, top-K in raster order,
    score scaling, fills, auxiliary loss) is the parent's.

    Args:
        prior_size (Sequence[int]): ``(h, w)`` of the prior map.
            Defaults to ``(20, 20)`` (the top level of a 640x640 input at
            stride 32).
        **kwargs: Arguments of :class:`LearnableTokenPruner`.
    """

    example = Example(
        args=dict(prior_size=(4, 4), embed_dims=16, hidden_dims=8,
                  keep_ratio=0.5),
        run=lambda m: m(torch.randn(2, 12, 16), hw=(3, 4)))

    def __init__(self,
                 prior_size: Sequence[int] = (20, 20),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        prior_size = tuple(prior_size)
        if len(prior_size) != 2 or min(prior_size) < 1:
            raise ValueError(
                f'prior_size must be two positive ints, got {prior_size}')
        self.prior = nn.Parameter(torch.zeros(1, 1, *prior_size))

    def importance_logits(self,
                          tokens: Tensor,
                          hw: Optional[Tuple[int, int]] = None,
                          padding_mask: Optional[Tensor] = None) -> Tensor:
        """MLP logits plus the prior resized to the grid.

        In a padded batch the prior covers each image's valid part (the
        top-left ``H_b x W_b`` tokens), as when the image is run alone; pad
        tokens get no prior.

        Args:
            tokens (Tensor): ``(B, N, C)``.
            hw (tuple[int, int]): Token grid ``(H, W)`` with ``H * W = N``;
                required.
            padding_mask (Tensor, optional): ``(B, N)`` bool, True at
                padding.

        Returns:
            Tensor: ``(B, N)``.
        """
        if hw is None:
            raise ValueError('hw (the token grid (H, W)) is required by '
                             'SpatialPriorTokenPruner')
        height, width = hw
        if height * width != tokens.shape[1]:
            raise ValueError(f'hw={tuple(hw)} does not match '
                             f'N={tokens.shape[1]} tokens')
        logits = super().importance_logits(tokens, hw)
        if padding_mask is None:
            prior = self._resized_prior(height, width)
            return logits + prior.flatten(1).to(logits.dtype)
        valid = ~padding_mask.view(-1, height, width)
        rows = valid.any(2).sum(1).tolist()
        cols = valid.any(1).sum(1).tolist()
        priors = [
            F.pad(self._resized_prior(h, w), (0, width - w, 0, height - h))
            if h and w else self.prior.new_zeros(1, 1, height, width)
            for h, w in zip(rows, cols)
        ]
        return logits + torch.cat(priors).flatten(1).to(logits.dtype)

    def _resized_prior(self, height: int, width: int) -> Tensor:
        """``(1, 1, height, width)``: the prior resized bilinearly."""
        return F.interpolate(self.prior, size=(height, width),
                             mode='bilinear', align_corners=False)
