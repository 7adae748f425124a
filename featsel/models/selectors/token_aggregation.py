"""``TokenAggregation``: condense the kept tokens into fewer learned
mixtures of them (SPEC S2; after LAPS, CVPR 2024)."""
from typing import Optional

import torch
from torch import Tensor, nn

from ...registry import SELECTORS
from ...utils import ConfigError
from ..base import BaseTokenSelector, Example
from ..layers.token_ops import masked_softmax
from .token_sparse import IMPLS


@SELECTORS.register_module()
class TokenAggregation(BaseTokenSelector):
    """Mix ``N_s`` kept tokens into ``N_c = int(N_s * aggr_ratio)`` tokens.

    ``l = (MLP(x))^T * a``, ``MLP = LayerNorm -> Linear(C, int(C *
    dim_ratio)) -> GELU -> Linear(., N_c)`` applied per token, transposed to
    ``(B, N_c, N_s)``, ``a`` a learned scale (initialised to 1); each output
    token is ``y_j = sum_i W_ji x_i`` (``bmm(W, x)``) with ``W`` a softmax
    of ``l`` over the ``N_s`` kept tokens.

    Implementation ``'paper'``: the softmax is restricted by the decision
    ``D`` of the kept tokens, in probability space (DynamicViT's policy
    softmax, see :func:`~featsel.models.layers.token_ops.masked_softmax`):

    ``W_ji = (D_i exp(l_ji - max_i l_ji) + eps / N_s) / (sum_i D_i
    exp(l_ji - max_i l_ji) + eps)``.

    With a hard decision (``D = 1`` on every kept token) the forward equals
    the plain softmax; a straight-through ``D`` passes the loss gradient to
    the scores, at most about 1 per unit of ``D``. The seed's additive mask
    ``l - (1 - D) * 1e10`` has the same forward but multiplies that
    gradient by ``1e10``. ``D`` is mandatory here (the public code never
    passed it). Implementation ``'official'`` takes no ``D``: a plain
    softmax, as the public code runs.

    The last weights ``W`` (detached) are kept in :attr:`last_weights`.

    Args:
        embed_dims (int): Token width ``C``. Defaults to 512.
        num_tokens (int): ``N_s``, the number of kept tokens it receives.
            Defaults to 64.
        aggr_ratio (float): In (0, 1]; ``N_c = int(N_s * aggr_ratio)``
            (64 -> 25 at 0.4). Defaults to 0.4.
        dim_ratio (float): Hidden width of the MLP over ``C``, in (0, 1].
            Defaults to 0.2.
        impl (str): ``'paper'`` or ``'official'``. Defaults to ``'paper'``.
        eps (float): ``eps`` of the masked softmax, > 0. Defaults to 1e-6.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(
        args=dict(embed_dims=16, num_tokens=6, aggr_ratio=0.5),
        run=lambda m: m(torch.randn(2, 6, 16), torch.ones(2, 6)))

    def __init__(self,
                 embed_dims: int = 512,
                 num_tokens: int = 64,
                 aggr_ratio: float = 0.4,
                 dim_ratio: float = 0.2,
                 impl: str = 'paper',
                 eps: float = 1e-6,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if impl not in IMPLS:
            raise ConfigError(
                f'impl must be one of {list(IMPLS)}, got {impl!r}')
        if not 0 < aggr_ratio <= 1:
            raise ConfigError(
                f'aggr_ratio must lie in (0, 1], got {aggr_ratio}')
        if not 0 < dim_ratio <= 1:
            raise ConfigError(
                f'dim_ratio must lie in (0, 1], got {dim_ratio}')
        if eps <= 0:
            raise ConfigError(f'eps must be > 0, got {eps}')
        self.num_out = int(num_tokens * aggr_ratio)
        if self.num_out < 1:
            raise ConfigError(
                f'num_tokens * aggr_ratio = {num_tokens} * {aggr_ratio} '
                'leaves no aggregated token (int(.) = 0)')
        self.embed_dims = embed_dims
        self.num_tokens = num_tokens
        self.impl = impl
        self.eps = eps
        hidden = max(int(embed_dims * dim_ratio), 1)
        self.weight_net = nn.Sequential(
            nn.LayerNorm(embed_dims), nn.Linear(embed_dims, hidden),
            nn.GELU(), nn.Linear(hidden, self.num_out))
        self.scale = nn.Parameter(torch.ones(1))
        self.last_weights: Optional[Tensor] = None

    def forward(self, tokens: Tensor,
                decision: Optional[Tensor] = None) -> Tensor:
        """Aggregate.

        Args:
            tokens (Tensor): ``(B, N_s, C)`` kept tokens.
            decision (Tensor, optional): ``(B, N_s)`` ``D`` of the kept
                tokens; required by ``'paper'``, refused by
                ``'official'``.

        Returns:
            Tensor: ``(B, N_c, C)``.
        """
        expected = (self.num_tokens, self.embed_dims)
        if tokens.dim() != 3 or tuple(tokens.shape[1:]) != expected:
            raise ValueError(
                f'tokens must be (B, {self.num_tokens}, {self.embed_dims}) '
                f'(num_tokens, embed_dims), got shape {tuple(tokens.shape)}')
        logits = self.weight_net(tokens).transpose(1, 2) * self.scale
        if self.impl == 'official':
            if decision is not None:
                raise ValueError("impl='official' takes no decision (the "
                                 "public code does not pass it); use "
                                 "impl='paper' to mask by it")
            weights = logits.softmax(-1)
        else:
            if decision is None or decision.shape != tokens.shape[:2]:
                got = None if decision is None else tuple(decision.shape)
                raise ValueError(
                    f"impl='paper' needs the decision of the kept tokens, "
                    f'shape {tuple(tokens.shape[:2])}; got {got}')
            weights = masked_softmax(logits, decision.unsqueeze(1), -1,
                                     self.eps)
        self.last_weights = weights.detach()
        return torch.bmm(weights, tokens)
