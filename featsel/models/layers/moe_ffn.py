"""Sparse mixture-of-experts feed-forward layer (SPEC S4: encoder Patch-MoE
and decoder MoE).

:class:`MoEFFN` has the call signature of mmcv's ``FFN``
(``forward(x, identity=None)``), so it can take the place of ``self.ffn``
in mmdet's transformer encoder and decoder layers. It is registered in
mmengine's root ``MODELS`` so that ``dict(type='MoEFFN', ...)`` builds
unprefixed under the ``mmdet``, ``mmseg`` and ``featsel`` default scopes.
"""
import copy
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

import torch
from torch import Tensor, nn

from ...registry import LAYERS
from ..base import BaseLayer, Example, UsageRecord
from ..builder import build_expert, build_router
from ..losses.moe_losses import router_z_loss, switch_balance_loss
from ..routers.topk_router import Routing


@LAYERS.register_module()
class MoEFFN(BaseLayer):
    r"""Token mixture of experts: each token runs through its top-k experts.

    .. math::

        y = x_{id} + \mathrm{drop}\Big(\sum_{i \in \mathcal{T}(x)}
            w_i(x)\, e_i(x)\Big)

    with the top-k set :math:`\mathcal{T}(x)` and weights :math:`w_i(x)` of
    the router (:class:`~featsel.models.routers.TopKRouter` by default) and
    experts :math:`e_i` (:class:`~featsel.models.experts.FFNExpert` by
    default).

    **Sparse dispatch.** The ``N * k`` (token, slot) pairs are sorted by
    expert; each expert runs once, on its own tokens only, and its weighted
    output is added back at their rows with ``index_add_``. Experts that
    receive no token are skipped, so their parameters get no gradient in
    that step (under DDP use ``find_unused_parameters=True``).

    **Statistics of the last call** (one forward; a layer called twice in a
    step keeps the second call's): ``last_expert_load`` (E,), the detached
    fraction of the token slots each expert took (sums to 1);
    ``last_balance_loss`` and ``last_z_loss``, the unweighted, differentiable
    :func:`~featsel.models.losses.switch_balance_loss` and
    :func:`~featsel.models.losses.router_z_loss`. :meth:`aux_losses` returns
    them weighted, ready to add to the model's loss dict.

    **Tokens left out of the statistics.** While :attr:`ignore_mask` is set
    (see :func:`moe_ignore_tokens`), the tokens where it is True still run
    through their experts but count neither in the load nor in the balance
    and z losses: a detector's denoising queries and the padding of a
    batch do not exist at inference, so routing them must not be rewarded
    or penalised.

    Args:
        embed_dims (int): Token width ``d``.
        num_experts (int): Number of experts ``E``. Defaults to 4.
        top_k (int): Experts per token ``k``. Defaults to 2.
        expert (dict): Config of one expert, built ``E`` times with
            ``embed_dims`` filled in. ``hidden_dims = dim_ff // k`` keeps the
            active FLOPs per token equal to a dense FFN of width ``dim_ff``.
        router (dict): Config of the router; ``embed_dims``, ``num_experts``
            and ``top_k`` are filled in (and must agree when given).
        add_identity (bool): Add ``identity`` to the output, as mmcv's
            ``FFN``. Defaults to True.
        dropout (float): Dropout on the mixture before the residual.
            Defaults to 0.
        balance_loss_weight (float): Weight of the balance loss in
            :meth:`aux_losses`. Defaults to 0.05.
        z_loss_weight (float): Weight of the router z-loss; 0 leaves it out
            of :meth:`aux_losses`. Defaults to 0.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(
        args=dict(embed_dims=16, num_experts=4, top_k=2,
                  expert=dict(type='FFNExpert', hidden_dims=32),
                  router=dict(type='TopKRouter')),
        run=lambda m: m(torch.randn(2, 5, 16)))

    def __init__(self,
                 embed_dims: int,
                 num_experts: int = 4,
                 top_k: int = 2,
                 expert: dict = dict(
                     type='FFNExpert',
                     hidden_dims=1024,
                     act_cfg=dict(type='GELU')),
                 router: dict = dict(type='TopKRouter'),
                 add_identity: bool = True,
                 dropout: float = 0.0,
                 balance_loss_weight: float = 0.05,
                 z_loss_weight: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 1 <= top_k <= num_experts:
            raise ValueError(f'top_k must lie in [1, num_experts = '
                             f'{num_experts}], got {top_k}')
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout must lie in [0, 1), got {dropout}')
        if balance_loss_weight < 0 or z_loss_weight < 0:
            raise ValueError('balance_loss_weight and z_loss_weight must be '
                             f'>= 0, got {balance_loss_weight} and '
                             f'{z_loss_weight}')
        self.embed_dims = embed_dims
        self.num_experts = num_experts
        self.top_k = top_k
        self.add_identity = add_identity
        self.balance_loss_weight = balance_loss_weight
        self.z_loss_weight = z_loss_weight

        self.experts = nn.ModuleList(
            build_expert(copy.deepcopy(expert), embed_dims=embed_dims)
            for _ in range(num_experts))
        self.router = build_router(
            copy.deepcopy(router), embed_dims=embed_dims,
            num_experts=num_experts, top_k=top_k)
        _check_agrees(self.experts[0], embed_dims=embed_dims)
        _check_agrees(self.router, embed_dims=embed_dims,
                      num_experts=num_experts, top_k=top_k)
        self.dropout_layer = nn.Dropout(dropout)

        self.last_expert_load: Optional[Tensor] = None
        self.last_balance_loss: Optional[Tensor] = None
        self.last_z_loss: Optional[Tensor] = None
        #: bool, broadcastable to the tokens' shape ``x.shape[:-1]``: True
        #: at tokens left out of the statistics; None counts every token
        self.ignore_mask: Optional[Tensor] = None

    def forward(self, x: Tensor, identity: Optional[Tensor] = None) -> Tensor:
        """Route every token of ``x`` to its experts and mix their outputs.

        Args:
            x (Tensor): (..., d) tokens, e.g. (B, N, d).
            identity (Tensor, optional): (..., d) residual added when
                ``add_identity``; ``x`` when None.

        Returns:
            Tensor: (..., d), the shape of ``x``.
        """
        if x.shape[-1] != self.embed_dims:
            raise ValueError(f'x must be (..., {self.embed_dims}), got '
                             f'{tuple(x.shape)}')
        tokens = x.reshape(-1, self.embed_dims)
        routing = self.router(tokens)
        counted = None
        if self.ignore_mask is not None:
            counted = ~self.ignore_mask.expand(x.shape[:-1]).reshape(-1)
        out = self._dispatch(tokens, routing, counted).view(x.shape)
        out = self.dropout_layer(out)
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out

    def _dispatch(self,
                  tokens: Tensor,
                  routing: Routing,
                  counted: Optional[Tensor] = None) -> Tensor:
        """``sum_{i in T(n)} w_{n i} e_i(x_n)`` for every token ``n``.

        Args:
            tokens (Tensor): (N, d).
            routing (Routing): indices and weights of shape (N, k).
            counted (Tensor, optional): (N,) bool, the tokens that count in
                the statistics; None: all.

        Returns:
            Tensor: (N, d), in the experts' output dtype.
        """
        num_tokens, k = routing.indices.shape
        flat = routing.indices.reshape(-1)  # pair p = token p // k, slot p % k
        counts = torch.bincount(flat, minlength=self.num_experts)
        self._record(routing, counts, counted)
        # The one host sync of the layer: the group sizes decide which
        # experts run and where the sorted pairs are split.
        sizes = counts.tolist()
        order = flat.argsort(stable=True)
        token_ids = torch.div(order, k, rounding_mode='floor').split(sizes)
        pair_weights = routing.weights.reshape(-1)[order].split(sizes)
        out: Optional[Tensor] = None
        for expert, size, ids, weight in zip(self.experts, sizes, token_ids,
                                             pair_weights):
            if size == 0:
                continue
            y = expert(tokens.index_select(0, ids))
            y = y * weight.unsqueeze(-1).to(y.dtype)
            if out is None:
                out = y.new_zeros(num_tokens, self.embed_dims)
            out.index_add_(0, ids, y.to(out.dtype))
        if out is None:  # no token at all
            out = tokens.new_zeros(num_tokens, self.embed_dims)
        return out

    def _record(self,
                routing: Routing,
                counts: Tensor,
                counted: Optional[Tensor] = None) -> None:
        """Keep the load and the unweighted auxiliary losses of this call,
        over the ``counted`` tokens only when given."""
        if counted is not None:
            routing = Routing(*(field[counted] for field in routing))
            counts = torch.bincount(routing.indices.reshape(-1),
                                    minlength=self.num_experts)
        slots = max(routing.indices.numel(), 1)
        self.last_expert_load = (counts.float() / slots).detach()
        self.last_balance_loss = switch_balance_loss(
            routing.probs, routing.indices, self.num_experts)
        self.last_z_loss = router_z_loss(routing.logits)

    def aux_losses(self) -> Dict[str, Tensor]:
        """Weighted auxiliary losses of the last forward pass.

        Returns:
            dict[str, Tensor]: ``loss_balance`` and, when ``z_loss_weight >
            0``, ``loss_router_z``; empty before the first forward.
        """
        if self.last_balance_loss is None:
            return {}
        losses = {
            'loss_balance': self.balance_loss_weight * self.last_balance_loss
        }
        if self.z_loss_weight > 0:
            losses['loss_router_z'] = self.z_loss_weight * self.last_z_loss
        return losses

    def records(self) -> Dict[str, UsageRecord]:
        """``'expert_load'``: the expert shares of the last forward
        (:attr:`last_expert_load`); empty before the first forward."""
        if self.last_expert_load is None:
            return {}
        return {'expert_load': UsageRecord(self.last_expert_load,
                                           self.top_k)}

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_experts='
                f'{self.num_experts}, top_k={self.top_k}, '
                f'add_identity={self.add_identity}')


@contextmanager
def moe_ignore_tokens(module: nn.Module,
                      mask: Optional[Tensor]) -> Iterator[None]:
    """Leave the tokens where ``mask`` is True out of the statistics of
    every :class:`MoEFFN` inside ``module`` for the duration of the block.

    mmdet's transformer layers call ``self.ffn(x)`` with no other argument,
    so the mask reaches the MoE layers as their :attr:`MoEFFN.ignore_mask`
    and is cleared on exit (also on error).

    Args:
        module (nn.Module): A model part holding MoE layers (or none).
        mask (Tensor, optional): bool, broadcastable to the tokens' shape
            of every layer's input without the channels, e.g. ``(B, Q)``;
            None counts every token.

    Example:
        >>> with moe_ignore_tokens(decoder, is_denoising_query):
        ...     out = decoder(query)
    """
    layers = [m for m in module.modules() if isinstance(m, MoEFFN)]
    for layer in layers:
        layer.ignore_mask = mask
    try:
        yield
    finally:
        for layer in layers:
            layer.ignore_mask = None


def _check_agrees(module: nn.Module, **expected) -> None:
    """Fail loudly when an expert or router was built with a width, expert
    count or k other than the layer's (e.g. set in its own config)."""
    for key, value in expected.items():
        given = getattr(module, key, value)
        if given != value:
            raise ValueError(f'{type(module).__name__} has {key}={given!r}, '
                             f'but MoEFFN has {key}={value!r}')
