"""``TokenSparse``: score the patch tokens of one modality against its own
and the other modalities' global tokens, keep the best, fuse the rest into
one token (SPEC S2; after LAPS, CVPR 2024, and SEPS, ICLR 2026)."""
import math
import warnings
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import SELECTORS
from ...utils import ConfigError
from ..base import BaseTokenSelector, Example, ScalarRecord
from ..layers.token_ops import carry_score, gumbel_like, straight_through

DECISIONS = ('hard', 'gumbel', 'gumbel_token')
IMPLS = ('paper', 'official')
SELECTIONS = ('score', 'random')
#: weight of the ratio loss under ``decision='gumbel_token'`` when none is
#: given (LAPS' ``ratio_weight`` and DynamicViT's default)
DEFAULT_RATIO_LOSS_WEIGHT = 2.0
# keep probabilities stay inside (0, 1) so their logs are finite
_PROB_EPS = 1e-6


class ScoreTerms(NamedTuple):
    """The terms of a token's score.

    Args:
        predicted (Tensor | None): ``(B, N)`` ``s^p = sigmoid(MLP(x))``;
            None in the official implementation (no predictor).
        own (Tensor): ``(B, N)`` ``s^im``, from the cosine to the
            modality's own global token.
        others (Tensor): ``(B, K, N)`` ``s^{m_k}``, from the cosines to the
            ``K`` other modalities' global tokens (``K`` may be 0).
    """

    predicted: Optional[Tensor]
    own: Tensor
    others: Tensor


class SparseTokens(NamedTuple):
    """What :class:`TokenSparse` returns.

    Args:
        kept (Tensor): ``(B, N_s, C)`` kept tokens in the order of the
            ranking (best first); in the paper implementation scaled by
            ``1 + s - sg(s)`` (same value, gradient to their scores).
        extra (Tensor): ``(B, 1, C)`` the dropped tokens fused by a softmax
            of their scores (zeros when nothing is dropped).
        index (Tensor): ``(B, N_s)`` long, positions of the kept tokens.
        kept_decision (Tensor): ``(B, N_s)`` the decision ``D`` at the kept
            tokens (what the aggregation is masked by).
        decision (Tensor): ``(B, N)`` the decision ``D`` over all tokens.
        scores (Tensor): ``(B, N)`` the scores ``s``.
    """

    kept: Tensor
    extra: Tensor
    index: Tensor
    kept_decision: Tensor
    decision: Tensor
    scores: Tensor


def score_weights(beta: float, num_others: int) -> Tuple[float, float, float]:
    """Weights ``(w_p, w_im, w_m)`` of ``s = w_p s^p + w_im s^im + w_m sum_k
    s^{m_k}`` for ``K = num_others`` other modalities.

    The paper's weights are ``(1 - 2 beta, 2 beta, beta)`` with ``K = 2``,
    summing to ``1 + 2 beta``. For any ``K`` the missing (or added) terms
    drop out and the rest are scaled by ``c = (1 + 2 beta) / (1 + K beta)``
    so they again sum to ``1 + 2 beta``: their ratios stay the paper's and
    the score keeps its range ``[0, 1 + 2 beta]``. ``K = 2`` gives the
    paper's formula exactly; ``K = 0`` gives ``(1 + 2 beta) ((1 - 2 beta)
    s^p + 2 beta s^im)``.

    Args:
        beta (float): ``beta`` in [0, 0.5].
        num_others (int): ``K >= 0``.
    """
    scale = (1 + 2 * beta) / (1 + num_others * beta)
    return scale * (1 - 2 * beta), scale * 2 * beta, scale * beta


@SELECTORS.register_module()
class TokenSparse(BaseTokenSelector):
    """Keep the ``N_s = ceil(N rho)`` best patch tokens of one modality.

    **Scores** (implementation ``'paper'``, SEPS' formula with the other
    modalities' global tokens in place of the two texts): for patch
    ``x_n``, own global token ``g`` and other modalities' globals ``g_k``,

    * ``s^im_n = (cos(x_n, g) + 1) / 2``, ``s^{m_k}_n = (cos(x_n, g_k) + 1)
      / 2`` -- no gradient, rescaled from [-1, 1] to [0, 1] as SEPS does so
      that ``beta`` balances them against the predictor;
    * ``s^p_n = sigmoid(W_2 GELU(W_1 x_n))``, ``W_1: C -> hidden_dims``;
    * ``s_n = w_p s^p_n + w_im s^im_n + w_m sum_k s^{m_k}_n`` with the
      weights of :func:`score_weights`: ``(1 - 2 beta) s^p + beta (s^m2 +
      s^m3 + 2 s^im)`` with two other modalities; with ``K`` others the
      present terms keep their ratios and are rescaled to sum to ``1 + 2
      beta`` (works with ``K = 0``).

    Implementation ``'official'`` (the public LAPS/SEPS code): ``s_n =
    cos(x_n, g) + mean_k cos(x_n, g_k)`` (raw cosines; the public code adds
    one self and one cross map, and the mean keeps that 1:1 balance with
    ``K`` others), no predictor, ``beta`` unused, and the whole selection
    runs under ``no_grad``.

    **Decision.** The tokens are ranked, the first ``N_s`` kept in ranking
    order; ``D`` (B, N) marks the kept ones. ``decision``:

    * ``'hard'``: rank by ``s``; ``D`` = one-hot of the top ``N_s``.
    * ``'gumbel'`` (the seed's): rank by ``s + g`` (Gumbel noise ``g``, a
      Gumbel top-k sample); ``D = hard + soft - sg(soft)`` with ``soft =
      softmax((s + g) / tau)`` over the N tokens. The soft part sums to one
      over N, so its gradients are ~1/N-sized and the mean of ``D`` is
      constant (the ratio loss has no gradient here).
    * ``'gumbel_token'`` (DynamicViT-style): rank by ``s``; each token gets
      its own keep/drop draw with keep probability ``pi_n = s_n / (1 + 2
      beta)``: ``D_n = hard + soft - sg(soft)`` where ``soft = softmax((
      [log pi, log(1 - pi)] + g) / tau)[0]`` and ``hard`` = its arg-max, so
      a token is kept with frequency ``pi_n``. A kept token with ``D_n = 0``
      is masked out of the aggregation.

    Noise is drawn only in training; evaluation always takes the hard top
    ``N_s`` by score. ``selection='random'`` replaces the ranking by a
    uniformly random one (a random set of the same size, ``D`` its
    one-hot), for the "does selection matter" check.

    **Outputs.** Kept tokens carry their score (paper): they are multiplied
    by ``1 + s - sg(s)`` (same value, gradient of scaling by ``s``), so the
    predictor learns from the tokens it keeps and not only from the dropped
    ones. The dropped tokens ``R`` are fused into ``extra = sum_{n in R}
    softmax_R(s)_n x_n``.

    **Ratio loss** (soft decisions, training): ``loss_ratio = w mean_b
    (mean_n D_bn - rho)^2``. With ``'hard'`` it is a constant (as in the
    public code) and is not computed; configuring a weight there warns.

    **Records** (:meth:`records`, logged by ``PluginHook``): ``kept_ratio``
    (mean of ``D``), ``score_mean``/``score_std`` and ``score_<t>_mean``/
    ``score_<t>_std`` for ``t`` in ``p`` (predictor), ``im`` (own global),
    ``m`` (other globals, pooled), and in training ``score_grad_norm``: the
    norm of the loss gradient reaching ``s^p`` (B, N), taken by a tensor
    hook during the backward pass of the last training forward.

    Args:
        embed_dims (int): Token width ``C``. Defaults to 512.
        sparse_ratio (float): ``rho`` in (0, 1]; ``N_s = ceil(N rho)``.
            Defaults to 0.5.
        beta (float): ``beta`` in [0, 0.5]. Defaults to 0.25.
        decision (str): ``'hard'``, ``'gumbel'`` or ``'gumbel_token'``.
            Defaults to ``'hard'``.
        tau (float): Gumbel temperature, > 0. Defaults to 1.0.
        hidden_dims (int, optional): Hidden width of the predictor
            (paper only). Defaults to ``embed_dims // 4``.
        ratio_loss_weight (float, optional): ``w`` >= 0. Defaults to
            :data:`DEFAULT_RATIO_LOSS_WEIGHT` with ``'gumbel_token'`` and 0
            otherwise.
        impl (str): ``'paper'`` or ``'official'``. Defaults to ``'paper'``.
        selection (str): ``'score'`` or ``'random'``; also settable as an
            attribute. Defaults to ``'score'``.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(
        args=dict(embed_dims=16, sparse_ratio=0.5, decision='gumbel_token'),
        run=lambda m: m(torch.randn(2, 12, 16), torch.randn(2, 16),
                        [torch.randn(2, 16), torch.randn(2, 16)]))

    def __init__(self,
                 embed_dims: int = 512,
                 sparse_ratio: float = 0.5,
                 beta: float = 0.25,
                 decision: str = 'hard',
                 tau: float = 1.0,
                 hidden_dims: Optional[int] = None,
                 ratio_loss_weight: Optional[float] = None,
                 impl: str = 'paper',
                 selection: str = 'score',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        _check_choice('impl', impl, IMPLS)
        _check_choice('decision', decision, DECISIONS)
        if not 0 < sparse_ratio <= 1:
            raise ConfigError(
                f'sparse_ratio must lie in (0, 1], got {sparse_ratio}')
        if not 0 <= beta <= 0.5:
            raise ConfigError(f'beta must lie in [0, 0.5], got {beta}')
        if tau <= 0:
            raise ConfigError(f'tau must be > 0, got {tau}')
        if impl == 'official' and decision != 'hard':
            raise ConfigError(
                f"decision={decision!r} needs impl='paper': the official "
                'implementation selects under no_grad, where a relaxed '
                "decision has no gradient to give; use decision='hard'")
        if impl == 'official' and hidden_dims is not None:
            raise ConfigError("hidden_dims sets the score predictor, which "
                              "impl='official' does not have")
        self.embed_dims = embed_dims
        self.sparse_ratio = float(sparse_ratio)
        self.beta = float(beta)
        self.decision = decision
        self.tau = float(tau)
        self.impl = impl
        self.selection = selection
        self.ratio_loss_weight = self._ratio_weight(ratio_loss_weight)
        self.predictor = None
        if impl == 'paper':
            hidden = hidden_dims or max(embed_dims // 4, 1)
            self.predictor = nn.Sequential(
                nn.Linear(embed_dims, hidden), nn.GELU(),
                nn.Linear(hidden, 1))
        # what the last forward left for aux_losses() / records()
        self._last: Optional[Dict[str, object]] = None
        self._grad_norm: Optional[Tensor] = None

    def _ratio_weight(self, weight: Optional[float]) -> float:
        if weight is None:
            return (DEFAULT_RATIO_LOSS_WEIGHT
                    if self.decision == 'gumbel_token' else 0.0)
        if weight < 0:
            raise ConfigError(
                f'ratio_loss_weight must be >= 0, got {weight}')
        if weight > 0 and self.decision == 'hard':
            warnings.warn(
                f"ratio_loss_weight={weight} with decision='hard': a hard "
                'top-k keeps exactly ceil(N * sparse_ratio) tokens, so the '
                'ratio loss is a constant with no gradient; it is not '
                "computed. Use decision='gumbel_token' for a ratio loss "
                'that acts.', UserWarning, stacklevel=3)
        elif weight > 0 and self.decision == 'gumbel':
            warnings.warn(
                f"ratio_loss_weight={weight} with decision='gumbel': the "
                'soft part of D is a softmax over the N tokens, which sums '
                'to one, so the mean of D is constant and the ratio loss '
                "has no gradient. Use decision='gumbel_token' for a ratio "
                'loss that acts.', UserWarning, stacklevel=3)
        return float(weight)

    # ------------------------------------------------------------------ #
    @property
    def selection(self) -> str:
        """``'score'`` (the ranking by score) or ``'random'``."""
        return self._selection

    @selection.setter
    def selection(self, value: str) -> None:
        _check_choice('selection', value, SELECTIONS)
        self._selection = value

    @property
    def max_score(self) -> float:
        """Upper end of the paper score's range, ``1 + 2 beta``."""
        return 1 + 2 * self.beta

    def num_kept(self, num_tokens: int) -> int:
        """``N_s = clamp(ceil(N rho), 1, N)``; ``N rho`` is rounded to six
        decimals first, so ``10 * 0.3`` keeps 3, not 4.

        Args:
            num_tokens (int): ``N``.
        """
        return min(max(math.ceil(round(num_tokens * self.sparse_ratio, 6)),
                       1), num_tokens)

    # ------------------------------------------------------------------ #
    def score_terms(self, patches: Tensor, own_global: Tensor,
                    other_globals: Tensor) -> ScoreTerms:
        """The terms of the score (see the class docstring).

        Args:
            patches (Tensor): ``(B, N, C)``.
            own_global (Tensor): ``(B, C)``.
            other_globals (Tensor): ``(B, K, C)``.

        Returns:
            ScoreTerms: The cosine terms carry no gradient; ``predicted``
            does (paper).
        """
        with torch.no_grad():
            unit = F.normalize(patches.detach(), dim=-1)
            own = torch.einsum('bnc,bc->bn', unit,
                               F.normalize(own_global.detach(), dim=-1))
            others = torch.einsum('bnc,bkc->bkn', unit,
                                  F.normalize(other_globals.detach(), dim=-1))
            if self.impl == 'paper':
                own, others = (own + 1) / 2, (others + 1) / 2
        predicted = None
        if self.predictor is not None:
            predicted = self.predictor(patches).squeeze(-1).sigmoid()
        return ScoreTerms(predicted, own, others)

    def combine(self, terms: ScoreTerms) -> Tensor:
        """``(B, N)`` scores from their terms (see the class docstring)."""
        num_others = terms.others.shape[1]
        if self.impl == 'official':
            return terms.own + (terms.others.mean(1) if num_others else 0)
        w_p, w_im, w_m = score_weights(self.beta, num_others)
        return (w_p * terms.predicted + w_im * terms.own +
                w_m * terms.others.sum(1))

    def forward(self,
                patches: Tensor,
                own_global: Tensor,
                other_globals: Sequence[Tensor] = ()) -> SparseTokens:
        """Score, decide, keep ``N_s`` tokens and fuse the rest.

        Args:
            patches (Tensor): ``(B, N, C)`` patch tokens of this modality.
            own_global (Tensor): ``(B, C)`` its global token.
            other_globals (Sequence[Tensor]): ``K >= 0`` tensors ``(B, C)``,
                the other modalities' global tokens.

        Returns:
            SparseTokens: ``kept (B, N_s, C)``, ``extra (B, 1, C)``,
            ``index (B, N_s)``, ``kept_decision (B, N_s)``, ``decision (B,
            N)``, ``scores (B, N)``.
        """
        others = self._check_inputs(patches, own_global, other_globals)
        if self.impl == 'official':
            with torch.no_grad():
                return self._select(patches, own_global, others)
        return self._select(patches, own_global, others)

    def _check_inputs(self, patches: Tensor, own_global: Tensor,
                      other_globals: Sequence[Tensor]) -> Tensor:
        """Shapes; the other globals stacked to ``(B, K, C)``."""
        if patches.dim() != 3 or patches.shape[-1] != self.embed_dims:
            raise ValueError(
                f'patches must be (B, N, {self.embed_dims}) (embed_dims), '
                f'got shape {tuple(patches.shape)}')
        batch = patches.shape[0]
        expected = (batch, self.embed_dims)
        if tuple(own_global.shape) != expected:
            raise ValueError(f'own_global must be {expected}, got shape '
                             f'{tuple(own_global.shape)}')
        for k, other in enumerate(other_globals):
            if tuple(other.shape) != expected:
                raise ValueError(f'other_globals[{k}] must be {expected}, '
                                 f'got shape {tuple(other.shape)}')
        if not len(other_globals):
            return patches.new_zeros(batch, 0, self.embed_dims)
        return torch.stack(list(other_globals), 1)

    def _select(self, patches: Tensor, own_global: Tensor,
                others: Tensor) -> SparseTokens:
        terms = self.score_terms(patches, own_global, others)
        scores = self.combine(terms)
        num_keep = self.num_kept(patches.shape[1])
        order, decision, soft = self._decide(scores, num_keep)
        index, rest = order[:, :num_keep], order[:, num_keep:]
        kept = _gather(patches, index)
        if self.impl == 'paper':
            kept = carry_score(kept, scores.gather(1, index))
        fuse = scores.gather(1, rest).softmax(1).unsqueeze(1)
        extra = torch.bmm(fuse, _gather(patches, rest))
        if self.training and terms.predicted is not None and \
                terms.predicted.requires_grad:
            terms.predicted.register_hook(self._keep_grad_norm)
        self._last = dict(
            terms=ScoreTerms(*(t if t is None else t.detach()
                               for t in terms)),
            scores=scores.detach(), decision=decision, soft=soft)
        return SparseTokens(kept, extra, index, decision.gather(1, index),
                            decision, scores)

    def _decide(self, scores: Tensor,
                num_keep: int) -> Tuple[Tensor, Tensor, bool]:
        """The ranking ``(B, N)`` (token positions, best first), the
        decision ``D`` (B, N) and whether ``D`` carries a soft gradient."""
        if self.selection == 'random':
            order = torch.rand_like(scores).argsort(1, descending=True)
            return order, _one_hot(order[:, :num_keep], scores), False
        soft_mode = self.training and self.decision != 'hard'
        if not soft_mode:
            order = scores.detach().argsort(1, descending=True)
            return order, _one_hot(order[:, :num_keep], scores), False
        if self.decision == 'gumbel':
            perturbed = (scores + gumbel_like(scores)) / self.tau
            order = perturbed.detach().argsort(1, descending=True)
            hard = _one_hot(order[:, :num_keep], scores)
            return order, straight_through(hard, perturbed.softmax(1)), True
        # gumbel_token: one keep/drop draw per token
        keep = (scores / self.max_score).clamp(_PROB_EPS, 1 - _PROB_EPS)
        logits = torch.stack([keep.log(), (-keep).log1p()], -1)
        perturbed = (logits + gumbel_like(logits)) / self.tau
        hard = (perturbed[..., 0] > perturbed[..., 1]).to(scores.dtype)
        decision = straight_through(hard, perturbed.softmax(-1)[..., 0])
        return scores.detach().argsort(1, descending=True), decision, True

    def _keep_grad_norm(self, grad: Tensor) -> None:
        self._grad_norm = grad.detach().norm()

    # ------------------------------------------------------------------ #
    def aux_losses(self) -> Dict[str, Tensor]:
        """``{'loss_ratio': w mean_b (mean_n D_bn - rho)^2}`` after a
        training forward with a soft decision and ``w > 0``; else ``{}``."""
        if self._last is None or not self._last['soft'] or \
                self.ratio_loss_weight == 0:
            return {}
        keep = self._last['decision'].float().mean(1)
        return dict(loss_ratio=self.ratio_loss_weight *
                    (keep - self.sparse_ratio).pow(2).mean())

    def records(self) -> Dict[str, ScalarRecord]:
        """Scalar diagnostics of the last forward (see the class
        docstring); ``{}`` before any forward."""
        if self._last is None:
            return {}
        terms: ScoreTerms = self._last['terms']
        values = dict(kept_ratio=self._last['decision'].detach().mean())
        for name, term in (('', self._last['scores']),
                           ('_p', terms.predicted), ('_im', terms.own),
                           ('_m', terms.others)):
            if term is not None and term.numel():
                values[f'score{name}_mean'] = term.mean()
                values[f'score{name}_std'] = term.std(unbiased=False)
        if self._grad_norm is not None:
            values['score_grad_norm'] = self._grad_norm
        return {name: ScalarRecord(value) for name, value in values.items()}


def _check_choice(key: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f'{key} must be one of {list(choices)}, got '
                          f'{value!r}')


def _gather(tokens: Tensor, index: Tensor) -> Tensor:
    """``(B, N, C)``, ``(B, K)`` -> ``(B, K, C)``."""
    return tokens.gather(
        1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def _one_hot(index: Tensor, like: Tensor) -> Tensor:
    """``(B, K)`` positions -> ``(B, N)`` 0/1 mask shaped like ``like``."""
    return like.new_zeros(like.shape).scatter(1, index, 1.0)
