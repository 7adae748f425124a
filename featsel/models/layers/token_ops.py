"""Differentiable operations on token decisions, shared by the token
pruners and the token selectors.

* :func:`carry_score` -- kept tokens carry the gradient of their score
  while keeping their value (straight-through scaling);
* :func:`straight_through` -- a hard decision in the forward pass with the
  gradient of a soft one;
* :func:`gumbel_like` -- standard Gumbel noise;
* :func:`masked_softmax` -- a softmax restricted by a (possibly soft)
  decision, masked in probability space so the decision's gradient stays
  bounded.
"""
import torch
from torch import Tensor


def carry_score(tokens: Tensor, scores: Tensor) -> Tensor:
    """Tokens scaled by ``1 + s - sg(s)`` (``sg`` = stop-gradient).

    The value is unchanged (``1 + s - s = 1``), while
    ``d out_n / d s_n = x_n``: the gradient of scaling a token by its
    score. Top-k and gather are piecewise constant in the scores; this
    gives the scorer a gradient from the tokens it keeps.

    Args:
        tokens (Tensor): ``(B, K, C)`` kept tokens.
        scores (Tensor): ``(B, K)`` their scores.

    Returns:
        Tensor: ``(B, K, C)``, equal to ``tokens``.
    """
    return tokens * (1 + scores - scores.detach()).unsqueeze(-1)


def straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    """``hard + soft - sg(soft)``: the value of ``hard`` exactly (``soft -
    sg(soft)`` is an exact zero), the gradient of ``soft``.

    Args:
        hard (Tensor): The decision used in the forward pass (no gradient).
        soft (Tensor): A relaxation of it, same shape.

    Returns:
        Tensor: Same shape.
    """
    return hard + (soft - soft.detach())


def gumbel_like(x: Tensor) -> Tensor:
    """Standard Gumbel noise ``g = -log(E)``, ``E ~ Exp(1)``, shaped like
    ``x`` (equivalently ``-log(-log U)``, ``U ~ U(0, 1)``); draws from
    torch's global generator."""
    return -torch.empty_like(x).exponential_().log()


def masked_softmax(logits: Tensor, mask: Tensor, dim: int = -1,
                   eps: float = 1e-6) -> Tensor:
    """Softmax over ``dim`` restricted to where ``mask`` is on, masked in
    probability space:

    ``W_j = (m_j e_j + eps / n) / (sum_k m_k e_k + eps)``,
    ``e_j = exp(l_j - max_k l_k)``, ``n`` = size of ``dim``.

    With a 0/1 mask this is the softmax over the entries where it is 1 (up
    to ``eps``); where it is all 0 the weights are uniform. Where
    ``m_k = 1``, ``dW_j / dm_k = W_k (delta_jk - W_j)`` (``eps`` aside),
    at most 1 in size. The additive form ``l - (1 - m) * 1e10`` has the
    same forward but multiplies the mask's gradient by ``1e10``.

    Args:
        logits (Tensor): Any shape.
        mask (Tensor): Broadcastable to ``logits``, values in [0, 1] (a
            straight-through decision may carry a gradient).
        dim (int): The softmax dimension. Defaults to -1.
        eps (float): Keeps the denominator positive. Defaults to 1e-6.

    Returns:
        Tensor: Like ``logits``; sums to one over ``dim``.
    """
    shifted = logits - logits.amax(dim=dim, keepdim=True).detach()
    weighted = mask * shifted.exp()
    num = logits.shape[dim]
    return (weighted + eps / num) / (weighted.sum(dim, keepdim=True) + eps)
