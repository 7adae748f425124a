"""Auxiliary losses of token-level mixture-of-experts layers.

* :func:`switch_balance_loss` -- ``E * sum_i f_i * P_i``: pushes the router
  to spread the token slots evenly over the experts; 1 at uniform routing
  for any top-k, ``E`` when one expert takes everything.
* :func:`router_z_loss` -- ``mean_tokens logsumexp(z)^2``: keeps the router
  logits small, so the softmax stays in a range where fp32/bf16 rounding
  does not decide the routing.
"""
import torch
from torch import Tensor


def switch_balance_loss(probs: Tensor, indices: Tensor,
                        num_experts: int) -> Tensor:
    r"""Load-balancing loss of a top-k router, normalised for any k.

    .. math::

        L = E \sum_{i=1}^{E} f_i P_i, \quad
        f_i = \frac{1}{N k} \sum_{n, j} [\mathrm{idx}_{n j} = i], \quad
        P_i = \frac{1}{N} \sum_n p_{n i}

    ``f_i`` is the fraction of the ``N * k`` (token, slot) assignments that
    went to expert ``i`` (so ``sum_i f_i = 1``) and ``P_i`` the mean router
    probability of expert ``i``. ``f`` is a count and carries no gradient;
    the gradient reaches the router through ``P``. At uniform routing
    (``f_i = P_i = 1 / E``) the loss is 1 whatever ``k``; with ``k = 1`` it
    is the Switch Transformer loss. Counting ``f_i`` over tokens instead
    (``sum_i f_i = k``) would make the uniform value ``k``.

    Args:
        probs (Tensor): (N, E) softmax of the router over the experts.
        indices (Tensor): (N, k) long, the experts chosen for each token.
        num_experts (int): ``E``.

    Returns:
        Tensor: 0-dim loss (0 for an empty batch of tokens), in the dtype of
        ``probs``.
    """
    if probs.dim() != 2 or probs.shape[1] != num_experts:
        raise ValueError(f'probs must be (N, {num_experts}), got '
                         f'{tuple(probs.shape)}')
    if indices.dim() != 2 or indices.shape[0] != probs.shape[0]:
        raise ValueError(f'indices must be (N, k) with N = {probs.shape[0]}, '
                         f'got {tuple(indices.shape)}')
    if indices.numel() == 0:
        return probs.sum() * 0
    counts = torch.bincount(indices.reshape(-1), minlength=num_experts)
    fraction = counts.to(probs.dtype) / indices.numel()
    return num_experts * (fraction * probs.mean(0)).sum()


def router_z_loss(logits: Tensor) -> Tensor:
    """Router z-loss (ST-MoE): ``mean_n (log sum_i exp(z_{n i}))^2``.

    Args:
        logits (Tensor): (N, E) router logits ``z``.

    Returns:
        Tensor: 0-dim loss (0 for an empty batch of tokens).
    """
    if logits.dim() != 2:
        raise ValueError(f'logits must be (N, E), got {tuple(logits.shape)}')
    if logits.shape[0] == 0:
        return logits.sum() * 0
    return torch.logsumexp(logits, dim=-1).square().mean()
