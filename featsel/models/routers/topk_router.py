"""Token-level top-k router of mixture-of-experts layers (SPEC S4)."""
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import ROUTERS
from ..base import BaseRouter, Example


class Routing(NamedTuple):
    """Where a router sends each token, and how strongly.

    Args:
        indices (Tensor): (N, k) long, the chosen experts of each token, in
            decreasing order of probability.
        weights (Tensor): (N, k) mixing weights of the chosen experts
            (renormalised to sum to one when the router says so);
            differentiable.
        probs (Tensor): (N, E) softmax over all experts; differentiable.
        logits (Tensor): (N, E) router logits; differentiable.
    """

    indices: Tensor
    weights: Tensor
    probs: Tensor
    logits: Tensor


@ROUTERS.register_module()
class TopKRouter(BaseRouter):
    r"""Linear top-k router: ``p = softmax(W x)``, keep the k largest.

    .. math::

        p = \mathrm{softmax}(W x), \quad
        \mathcal{T} = \mathrm{topk}(p, k), \quad
        w_i = \frac{p_i}{\sum_{j \in \mathcal{T}} p_j}, \ i \in \mathcal{T}

    The logits are computed in float32 (float64 stays float64) with
    autocast off, input and weight cast up: in bf16 the softmax of nearly
    equal logits rounds, and the rounding would decide the routing.

    With ``renormalize=True`` and ``top_k=1`` the weight is always 1, so the
    router learns only from the auxiliary losses; the Switch Transformer
    keeps ``w = p`` for top-1 (``renormalize=False``).

    Args:
        embed_dims (int): Token width ``d``.
        num_experts (int): Number of experts ``E``.
        top_k (int): Experts per token ``k``, ``1 <= k <= E``. Defaults to 1.
        jitter_noise (float): ``eps`` of the multiplicative noise
            ``U(1 - eps, 1 + eps)`` on the router input during training
            (Switch Transformer); 0 turns it off. Defaults to 0.
        renormalize (bool): Divide the k kept probabilities by their sum.
            Defaults to True.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(embed_dims=16, num_experts=4, top_k=2),
                      run=lambda m: m(torch.randn(10, 16)))

    def __init__(self,
                 embed_dims: int,
                 num_experts: int,
                 top_k: int = 1,
                 jitter_noise: float = 0.0,
                 renormalize: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims < 1:
            raise ValueError(f'embed_dims must be >= 1, got {embed_dims}')
        if num_experts < 1:
            raise ValueError(f'num_experts must be >= 1, got {num_experts}')
        if not 1 <= top_k <= num_experts:
            raise ValueError(f'top_k must lie in [1, num_experts = '
                             f'{num_experts}], got {top_k}')
        if not 0 <= jitter_noise < 1:
            raise ValueError(
                f'jitter_noise must lie in [0, 1), got {jitter_noise}')
        self.embed_dims = embed_dims
        self.num_experts = num_experts
        self.top_k = top_k
        self.jitter_noise = jitter_noise
        self.renormalize = renormalize
        self.gate = nn.Linear(embed_dims, num_experts, bias=False)

    def forward(self, x: Tensor) -> Routing:
        """Args: x (Tensor): (N, d) tokens. Returns: :class:`Routing`."""
        if x.dim() != 2 or x.shape[1] != self.embed_dims:
            raise ValueError(f'x must be (N, {self.embed_dims}), got '
                             f'{tuple(x.shape)}')
        dtype = torch.promote_types(x.dtype, torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.to(dtype)
            if self.training and self.jitter_noise > 0:
                eps = self.jitter_noise
                x = x * torch.empty_like(x).uniform_(1 - eps, 1 + eps)
            logits = F.linear(x, self.gate.weight.to(dtype))
            probs = logits.softmax(dim=-1)
            top, indices = probs.topk(self.top_k, dim=-1)
            weights = top / top.sum(-1, keepdim=True) \
                if self.renormalize else top
        return Routing(indices, weights, probs, logits)
