"""``SDTPSSelector``: cross-modal token selection and aggregation for one
modality, :class:`TokenSparse` then :class:`TokenAggregation` (SPEC S2)."""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

from ...registry import SELECTORS
from ...utils import ConfigError
from ..base import BaseTokenSelector, Example, Record
from .token_aggregation import TokenAggregation
from .token_sparse import TokenSparse


@SELECTORS.register_module()
class SDTPSSelector(BaseTokenSelector):
    """Select, aggregate, and keep the rest as one token.

    ``out = concat(TokenAggregation(kept, D_kept), extra)``: ``N`` patch
    tokens -> ``N_s = ceil(N * sparse_ratio)`` kept -> ``N_c = int(N_s *
    aggr_ratio)`` aggregated, plus the fused extra token: ``(B, N_c + 1,
    C)``; 128 -> 64 -> 25 + 1 = 26 with the defaults. The paper
    implementation passes ``D`` of the kept tokens to the aggregation, the
    official one does not (see the two parts for the formulas).

    A multi-modal model builds one per modality and calls it with that
    modality's patches and global token and the other modalities' global
    tokens. After each forward :attr:`last_selection` holds, detached,
    ``kept_index`` (B, N_s), ``scores`` (B, N) and ``aggr_weights`` (B,
    N_c, N_s), for pictures of the kept tokens. :attr:`selection`
    (``'score'`` or ``'random'``) is the sparse part's. Losses and records
    are the sparse part's (``loss_ratio``; ``kept_ratio``, score
    statistics, ``score_grad_norm``).

    Args:
        embed_dims (int): Token width ``C``. Defaults to 512.
        num_tokens (int): ``N``, the patch tokens per image (the
            aggregation is built for ``N_s``). Defaults to 128.
        sparse_ratio (float): ``rho`` of :class:`TokenSparse`.
            Defaults to 0.5.
        aggr_ratio (float): Of :class:`TokenAggregation`. Defaults to 0.4.
        beta (float): Of :class:`TokenSparse`. Defaults to 0.25.
        decision (str): ``'hard'``, ``'gumbel'`` or ``'gumbel_token'``.
            Defaults to ``'hard'``.
        tau (float): Gumbel temperature. Defaults to 1.0.
        hidden_dims (int, optional): Score predictor's hidden width
            (paper). Defaults to ``embed_dims // 4``.
        dim_ratio (float): Aggregation MLP's hidden width over ``C``.
            Defaults to 0.2.
        ratio_loss_weight (float, optional): See :class:`TokenSparse`.
        impl (str): ``'paper'`` or ``'official'``, for both parts.
            Defaults to ``'paper'``.
        selection (str): ``'score'`` or ``'random'``. Defaults to
            ``'score'``.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(
        args=dict(embed_dims=16, num_tokens=20, decision='gumbel'),
        run=lambda m: m(torch.randn(2, 20, 16), torch.randn(2, 16),
                        [torch.randn(2, 16), torch.randn(2, 16)]))

    def __init__(self,
                 embed_dims: int = 512,
                 num_tokens: int = 128,
                 sparse_ratio: float = 0.5,
                 aggr_ratio: float = 0.4,
                 beta: float = 0.25,
                 decision: str = 'hard',
                 tau: float = 1.0,
                 hidden_dims: Optional[int] = None,
                 dim_ratio: float = 0.2,
                 ratio_loss_weight: Optional[float] = None,
                 impl: str = 'paper',
                 selection: str = 'score',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_tokens < 1:
            raise ConfigError(f'num_tokens must be >= 1, got {num_tokens}')
        self.num_tokens = num_tokens
        self.sparse = TokenSparse(
            embed_dims=embed_dims, sparse_ratio=sparse_ratio, beta=beta,
            decision=decision, tau=tau, hidden_dims=hidden_dims,
            ratio_loss_weight=ratio_loss_weight, impl=impl,
            selection=selection)
        self.aggregation = TokenAggregation(
            embed_dims=embed_dims,
            num_tokens=self.sparse.num_kept(num_tokens),
            aggr_ratio=aggr_ratio, dim_ratio=dim_ratio, impl=impl)
        self.last_selection: Optional[Dict[str, Tensor]] = None

    @property
    def impl(self) -> str:
        """``'paper'`` or ``'official'``."""
        return self.sparse.impl

    @property
    def selection(self) -> str:
        """``'score'`` or ``'random'`` (the sparse part's)."""
        return self.sparse.selection

    @selection.setter
    def selection(self, value: str) -> None:
        self.sparse.selection = value

    @property
    def num_out(self) -> int:
        """Output tokens per image, ``N_c + 1``."""
        return self.aggregation.num_out + 1

    def forward(self,
                patches: Tensor,
                own_global: Tensor,
                other_globals: Sequence[Tensor] = ()) -> Tensor:
        """Select and aggregate the tokens of one modality.

        Args:
            patches (Tensor): ``(B, N, C)`` with ``N = num_tokens``.
            own_global (Tensor): ``(B, C)`` this modality's global token.
            other_globals (Sequence[Tensor]): ``(B, C)`` each, the other
                modalities' global tokens (any number, none included).

        Returns:
            Tensor: ``(B, N_c + 1, C)``, the aggregated tokens then the
            extra token.
        """
        if patches.dim() == 3 and patches.shape[1] != self.num_tokens:
            raise ConfigError(
                f'num_tokens={self.num_tokens}, but the patches hold '
                f'{patches.shape[1]} tokens (shape {tuple(patches.shape)}); '
                'set num_tokens to the patch grid size h * w')
        sparse = self.sparse(patches, own_global, other_globals)
        decision = sparse.kept_decision if self.impl == 'paper' else None
        aggregated = self.aggregation(sparse.kept, decision)
        self.last_selection = dict(
            kept_index=sparse.index.detach(),
            scores=sparse.scores.detach(),
            aggr_weights=self.aggregation.last_weights)
        return torch.cat([aggregated, sparse.extra], 1)

    def aux_losses(self) -> Dict[str, Tensor]:
        """The sparse part's ratio loss (see :class:`TokenSparse`)."""
        return self.sparse.aux_losses()

    def records(self) -> Dict[str, Record]:
        """The sparse part's diagnostics (see :class:`TokenSparse`)."""
        return self.sparse.records()
