"""Learnable token pruning before an encoder transformer (SPEC S4).

The pruner scores every token with a small MLP, keeps the top-K in their
original (raster) order for the transformer, and puts the processed tokens
back into the full map afterwards with :meth:`LearnableTokenPruner.restore`.
"""
import math
from typing import Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import PRUNERS
from ..base import BasePruner, Example, ScheduleRecord
from ..layers.token_ops import carry_score

_FILLS = ('keep', 'zero')


def keep_ratio_at(epoch: float, keep_ratio: float,
                  warmup_epochs: int) -> float:
    """Keep ratio of the progressive schedule at an epoch.

    ``r(e) = 1 - clamp(e / warmup_epochs, 0, 1) * (1 - keep_ratio)``: all
    tokens at epoch 0, falling linearly to ``keep_ratio`` at
    ``warmup_epochs`` and flat after it. ``warmup_epochs=0`` gives
    ``keep_ratio`` from the start. With ``keep_ratio=0.7`` and
    ``warmup_epochs=10``: epoch 0 -> 1.0, 5 -> 0.85, 10 and later -> 0.7.

    Args:
        epoch (float): Epoch (0-based; fractions allowed).
        keep_ratio (float): Final keep ratio, in (0, 1].
        warmup_epochs (int): Epochs of the linear fall, >= 0.

    Returns:
        float: The keep ratio, in [keep_ratio, 1].
    """
    if warmup_epochs <= 0:
        return float(keep_ratio)
    progress = min(max(epoch / warmup_epochs, 0.0), 1.0)
    return 1.0 - progress * (1.0 - keep_ratio)


class PrunedTokens(NamedTuple):
    """What a token pruner hands to the layer it feeds.

    Args:
        tokens (Tensor): ``(B, K, C)`` kept tokens in raster order, scaled
            by ``1 + s - s.detach()`` (same value, gradient to the scores).
        pos (Tensor | None): ``(B, K, C)`` positional embeddings gathered
            with the same indices, or None when none were given.
        index (Tensor): ``(B, K)`` long, positions of the kept tokens in the
            input, strictly increasing per image.
        scores (Tensor): ``(B, N)`` importance scores ``s`` in (0, 1).
        padding_mask (Tensor | None): ``(B, K)`` bool, True at slots that
            hold no kept token (images of a padded batch keep different
            numbers ``K_b <= K``); the layer must mask them as keys and
            :meth:`LearnableTokenPruner.restore` does not write them back.
            None when every slot is kept.
    """

    tokens: Tensor
    pos: Optional[Tensor]
    index: Tensor
    scores: Tensor
    padding_mask: Optional[Tensor] = None


@PRUNERS.register_module()
class LearnableTokenPruner(BasePruner):
    """Keep the top-K tokens by a learned importance score.

    Score: ``s = sigmoid(W_2 GELU(W_1 x))`` per token, with
    ``W_1: embed_dims -> hidden_dims`` and ``W_2: hidden_dims -> 1``.
    Number kept: ``K = clamp(round(r * N), 1, N)`` (rounded half up), where
    ``r`` is the current keep ratio. The K best tokens are taken and their
    indices sorted ascending, so the kept sequence keeps the raster order of
    the map; positional embeddings are gathered with the same indices.

    Padding: with a ``padding_mask`` (True at tokens of the padded border of
    a batch), ``N`` is each image's number of valid tokens ``N_b``, pad
    tokens are never kept, and an image keeps ``K_b = clamp(round(r N_b),
    1, N_b)`` tokens, exactly what it keeps when it is run alone. The batch
    holds ``max_b K_b`` slots; the surplus slots of an image are marked in
    :attr:`PrunedTokens.padding_mask`.

    Detection gradient: top-k and gather are piecewise constant in ``s``, so
    on their own they give the predictor no gradient from the detection
    loss. Kept tokens are therefore multiplied by ``1 + s - sg(s)``
    (``sg`` = stop-gradient; see
    :func:`~featsel.models.layers.token_ops.carry_score`): the value is
    unchanged, while ``d out / d s = x``, the gradient of scaling a token by
    its score. The predictor thus learns which tokens help the loss.

    The current keep ratio is the persistent buffer ``keep_ratio_now``,
    initialised to ``keep_ratio``: a freshly built model (tests, cost
    measurement) prunes at the target, and a checkpoint remembers the last
    value set by :meth:`set_progress` (called every training iteration by
    ``PluginHook``, or ``TokenPruningScheduleHook``, with the epoch, a
    fraction of one under iteration-based loops). :meth:`records` reports
    it as ``'keep_ratio'``.

    Args:
        embed_dims (int): Token channels ``C``. Defaults to 256.
        hidden_dims (int): Hidden width of the importance MLP.
            Defaults to 128.
        keep_ratio (float): Final keep ratio, in (0, 1]. Defaults to 0.7.
        warmup_epochs (int): Epochs over which the ratio falls linearly from
            1 to ``keep_ratio`` (see :func:`keep_ratio_at`), >= 0.
            Defaults to 10.
        fill (str): What the pruned positions hold when :meth:`restore`
            rebuilds the map: ``'keep'`` their input features (not updated,
            as in Sparse DETR and SViT) or ``'zero'`` zeros.
            Defaults to ``'keep'``.
        loss_weight (float): Weight of the auxiliary loss of
            :meth:`aux_losses`. Defaults to 0.001.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(
        args=dict(embed_dims=16, hidden_dims=8, keep_ratio=0.5,
                  warmup_epochs=2),
        run=lambda m: m(torch.randn(2, 12, 16), hw=(3, 4)))

    def __init__(self,
                 embed_dims: int = 256,
                 hidden_dims: int = 128,
                 keep_ratio: float = 0.7,
                 warmup_epochs: int = 10,
                 fill: str = 'keep',
                 loss_weight: float = 0.001,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 < keep_ratio <= 1:
            raise ValueError(
                f'keep_ratio must lie in (0, 1], got {keep_ratio}')
        if warmup_epochs < 0:
            raise ValueError(
                f'warmup_epochs must be >= 0, got {warmup_epochs}')
        if fill not in _FILLS:
            raise ValueError(
                f'fill must be one of {_FILLS}, got {fill!r}')
        if loss_weight < 0:
            raise ValueError(
                f'loss_weight must be >= 0, got {loss_weight}')
        self.keep_ratio = float(keep_ratio)
        self.warmup_epochs = warmup_epochs
        self.fill = fill
        self.loss_weight = loss_weight
        self.predictor = nn.Sequential(
            nn.Linear(embed_dims, hidden_dims), nn.GELU(),
            nn.Linear(hidden_dims, 1))
        self.register_buffer('keep_ratio_now',
                             torch.tensor(self.keep_ratio))
        # (scores, kept tokens, ratio) of the last forward, for aux_losses
        self._last: Optional[Tuple[Tensor, Tensor, float]] = None

    @property
    def current_keep_ratio(self) -> float:
        """The keep ratio the next forward uses."""
        return float(self.keep_ratio_now)

    def set_progress(self, epoch: float, iter: int,
                     max_epochs: Optional[int] = None,
                     max_iters: Optional[int] = None) -> None:
        """Set the current keep ratio to the schedule's value at ``epoch``
        (see :func:`keep_ratio_at`; the other arguments are unused).

        Args:
            epoch (float): Epochs done, 0-based; fractions allowed.
            iter (int): Iterations done (unused).
            max_epochs (int, optional): Unused.
            max_iters (int, optional): Unused.
        """
        self.keep_ratio_now.fill_(
            keep_ratio_at(epoch, self.keep_ratio, self.warmup_epochs))

    def records(self) -> Dict[str, ScheduleRecord]:
        """``'keep_ratio'``: the ratio the next forward uses."""
        return {'keep_ratio': ScheduleRecord(self.current_keep_ratio)}

    def num_kept(self, num_tokens: int) -> int:
        """``K = clamp(round(r * N), 1, N)``, rounded half up.

        Args:
            num_tokens (int): ``N``.
        """
        ratio = self.current_keep_ratio
        if ratio >= 1:
            return num_tokens
        return min(max(math.floor(ratio * num_tokens + 0.5), 1), num_tokens)

    def importance_logits(self,
                          tokens: Tensor,
                          hw: Optional[Tuple[int, int]] = None,
                          padding_mask: Optional[Tensor] = None) -> Tensor:
        """Importance logits before the sigmoid.

        Args:
            tokens (Tensor): ``(B, N, C)``.
            hw (tuple[int, int], optional): Token grid ``(H, W)``, unused
                here; subclasses with spatial terms need it.
            padding_mask (Tensor, optional): ``(B, N)`` bool, True at
                padding; unused here (pad tokens are excluded by
                :meth:`forward`), subclasses with spatial terms need it.

        Returns:
            Tensor: ``(B, N)``.
        """
        return self.predictor(tokens).squeeze(-1)

    def forward(self,
                tokens: Tensor,
                pos: Optional[Tensor] = None,
                hw: Optional[Tuple[int, int]] = None,
                padding_mask: Optional[Tensor] = None) -> PrunedTokens:
        """Score the tokens and keep the top-K in raster order.

        Args:
            tokens (Tensor): ``(B, N, C)`` flattened feature map.
            pos (Tensor, optional): ``(B or 1, N, C)`` positional
                embeddings.
            hw (tuple[int, int], optional): Token grid ``(H, W)`` with
                ``H * W = N``; ignored by this class.
            padding_mask (Tensor, optional): ``(B, N)`` bool, True at
                tokens of the padded border; they are never kept and do
                not count towards ``K``.

        Returns:
            PrunedTokens: ``tokens (B, K, C)``, ``pos (B, K, C)`` or None,
            ``index (B, K)`` sorted, ``scores (B, N)``, ``padding_mask
            (B, K)`` or None.
        """
        if tokens.dim() != 3:
            raise ValueError(
                f'tokens must be (B, N, C), got shape {tuple(tokens.shape)}')
        batch, num, channels = tokens.shape
        if padding_mask is not None and padding_mask.shape != (batch, num):
            raise ValueError(f'padding_mask must be ({batch}, {num}), got '
                             f'shape {tuple(padding_mask.shape)}')
        scores = self.importance_logits(tokens, hw, padding_mask).sigmoid()
        ratio = self.current_keep_ratio
        slot_mask = None
        if padding_mask is not None and bool(padding_mask.any()):
            index, slot_mask = self._select_valid(scores, padding_mask)
        elif self.num_kept(num) == num:
            index = torch.arange(num, device=tokens.device).repeat(batch, 1)
        else:
            index = scores.detach().topk(
                self.num_kept(num), dim=1).indices.sort(dim=1).values
        gather_index = index.unsqueeze(-1).expand(-1, -1, channels)
        kept = tokens.gather(1, gather_index)
        kept = carry_score(kept, scores.gather(1, index))
        kept_pos = None
        if pos is not None:
            if pos.shape[1:] != tokens.shape[1:]:
                raise ValueError(
                    f'pos must be (B or 1, {num}, {channels}), got shape '
                    f'{tuple(pos.shape)}')
            kept_pos = pos.expand(batch, -1, -1).gather(1, gather_index)
        self._last = (scores, kept, ratio, padding_mask, slot_mask)
        return PrunedTokens(kept, kept_pos, index, scores, slot_mask)

    def _select_valid(self, scores: Tensor,
                      padding_mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Top-``K_b`` valid tokens of each image of a padded batch.

        Args:
            scores (Tensor): ``(B, N)``.
            padding_mask (Tensor): ``(B, N)`` bool, True at padding.

        Returns:
            tuple[Tensor, Tensor]: ``index (B, K)`` sorted per image with
            ``K = max_b K_b``, and the ``(B, K)`` slot mask, True at the
            slots beyond an image's ``K_b`` best valid tokens.
        """
        valid = (~padding_mask).sum(1).tolist()
        per_image = scores.new_tensor(
            [self.num_kept(n) if n else 0 for n in valid], dtype=torch.long)
        k = max(int(per_image.max()), 1)
        ranking = scores.detach().masked_fill(padding_mask, float('-inf'))
        best_first = ranking.topk(k, dim=1).indices
        index, order = best_first.sort(dim=1)
        rank = torch.arange(k, device=scores.device).expand_as(index)
        surplus = rank >= per_image[:, None]
        return index, surplus.gather(1, order)

    def restore(self,
                kept: Tensor,
                tokens: Tensor,
                index: Tensor,
                padding_mask: Optional[Tensor] = None) -> Tensor:
        """Put processed kept tokens back into the full token map.

        ``out[b, index[b, j]] = kept[b, j]``; every other position holds
        ``tokens`` (``fill='keep'``) or zeros (``fill='zero'``).
        Differentiable w.r.t. ``kept`` and, for ``'keep'``, ``tokens``.

        Args:
            kept (Tensor): ``(B, K, C)`` processed kept tokens.
            tokens (Tensor): ``(B, N, C)`` the pruner's input.
            index (Tensor): ``(B, K)`` from :meth:`forward`.
            padding_mask (Tensor, optional): ``(B, K)`` slot mask of
                :class:`PrunedTokens`; these slots are not written back
                (their positions hold the fill like any pruned one).

        Returns:
            Tensor: ``(B, N, C)``.
        """
        base = tokens if self.fill == 'keep' else torch.zeros_like(tokens)
        scatter_index = index.unsqueeze(-1).expand(-1, -1, kept.shape[-1])
        kept = kept.to(base.dtype)
        if padding_mask is not None:
            kept = torch.where(padding_mask[..., None],
                               base.gather(1, scatter_index), kept)
        return base.scatter(1, scatter_index, kept)

    def aux_losses(self) -> Dict[str, Tensor]:
        """Auxiliary loss of the last forward (empty before any forward).

        ``loss_prune = loss_weight * (L_sparse + L_div)`` with

        - ``L_sparse = mean_b (mean_n s_bn - r)^2``: the mean score should
          match the current keep ratio ``r``;
        - ``L_div = mean_b [sum_{i != j} cos(x_bi, x_bj) / (K (K - 1))]``
          over the kept tokens (0 when ``K = 1``), from the Gram matrix of
          the L2-normalised tokens: discourages keeping redundant tokens.
          In a padded batch both means run over each image's valid tokens
          and its ``K_b`` kept ones only.
          Cosine similarity ignores the positive score scale and top-k is
          discrete, so this term's gradient reaches the features that feed
          the pruner, not the predictor.

        Returns:
            dict[str, Tensor]: ``{'loss_prune': 0-dim tensor}`` or ``{}``.
        """
        if self._last is None:
            return {}
        scores, kept, ratio, padding_mask, slot_mask = self._last
        sparsity = (_masked_mean(scores.float(), padding_mask) -
                    ratio).pow(2).mean()
        unit = F.normalize(kept.float(), dim=-1)
        if slot_mask is None:
            k = unit.new_full((unit.shape[0], ), unit.shape[1])
        else:
            unit = unit.masked_fill(slot_mask[..., None], 0)
            k = (~slot_mask).sum(1).to(unit.dtype)
        gram = unit @ unit.transpose(1, 2)
        off_diag = gram.sum((1, 2)) - gram.diagonal(dim1=1, dim2=2).sum(1)
        pairs = k * (k - 1)
        diversity = torch.where(pairs > 0, off_diag / pairs.clamp(min=1),
                                torch.zeros_like(off_diag)).mean()
        return dict(loss_prune=self.loss_weight * (sparsity + diversity))


def _masked_mean(x: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
    """``(B, N) -> (B,)`` mean over the positions where ``padding_mask`` is
    False (all of them when it is None)."""
    if padding_mask is None:
        return x.mean(1)
    valid = (~padding_mask).to(x.dtype)
    return (x * valid).sum(1) / valid.sum(1).clamp(min=1)
