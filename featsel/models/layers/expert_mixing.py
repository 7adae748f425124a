"""Gated sums of experts: ``y = sum_k alpha_k * e_k(x)``.

The reference :func:`mix_experts_naive` stacks the K expert outputs into a
``(B, K, C, H, W)`` tensor, which autograd keeps alive until backward: K
times the memory of the input, per scale. When every expert is a depthwise
convolution or the identity, :func:`mix_experts` computes the same sum with
:class:`FusedDWMixture`, which adds the experts into the output one at a
time and saves only ``x``, ``alpha`` and the kernels; backward recomputes
each expert's output where the gate needs its gradient.

:func:`mix_experts_shared` mixes the same experts of the same input with
several gates (one per task) in one pass: each expert runs once forward,
once again in backward, and its convolution backward runs once for all the
gates together, instead of once per gate.

:func:`expert_gram` gives the Gram matrix ``<e_k(x), e_k'(x)>`` of the same
experts per sample (for the expert orthogonality loss) with
:class:`FusedExpertGram`, again without a stack.

Under autocast both run in autocast's dtype (the dtype the experts'
convolutions would get), with every input cast to it before the fused
function and autocast off inside, as ``torch.amp.custom_fwd(cast_inputs=)``
does: the backward's convolutions then see one dtype.
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..experts import DWConvExpert, IdentityExpert

#: One expert of the fused path: None for the identity, else the
#: ``(padding, dilation)`` of its depthwise convolution.
_Spec = Optional[Tuple[Tuple[int, int], Tuple[int, int]]]


def _as_5d(x: Tensor, alpha: Tensor, num_experts: int) -> Tensor:
    """``alpha`` viewed as (B, K, C or 1, H or 1, W or 1); checks shapes."""
    if x.dim() != 4:
        raise ValueError(f'x must be (B, C, H, W), got {tuple(x.shape)}')
    shape = tuple(alpha.shape)
    if alpha.dim() not in (4, 5) or shape[1] != num_experts:
        raise ValueError(
            f'alpha must be (B, K, H, W), (B, K, 1, 1) or (B, K, C, H, W) '
            f'with K = {num_experts} experts, got {shape} for x of shape '
            f'{tuple(x.shape)}')
    alpha5 = alpha.unsqueeze(2) if alpha.dim() == 4 else alpha
    b, c, h, w = x.shape
    for size, full in zip(alpha5.shape[:1] + alpha5.shape[2:], (b, c, h, w)):
        if size not in (1, full):
            raise ValueError(f'alpha of shape {shape} does not broadcast to '
                             f'x of shape {tuple(x.shape)}')
    return alpha5


def _fusable_spec(expert: nn.Module) -> Tuple[bool, _Spec]:
    """Whether the fused path can stand in for ``expert``, and how."""
    if type(expert).forward is IdentityExpert.forward:
        return True, None
    if type(expert).forward is not DWConvExpert.forward:
        return False, None
    conv = expert.conv
    depthwise = (conv.groups == conv.in_channels == conv.out_channels
                 and tuple(conv.stride) == (1, 1)
                 and conv.padding_mode == 'zeros'
                 and not isinstance(conv.padding, str))
    return depthwise, (tuple(conv.padding), tuple(conv.dilation))


def _fused_specs(
        experts: nn.ModuleList) -> Tuple[Optional[Tuple[_Spec, ...]], List]:
    """Per expert its spec, and the conv parameters in order (weight, bias
    per conv expert); ``(None, [])`` when some expert is not fusable."""
    specs, params = [], []
    for expert in experts:
        ok, spec = _fusable_spec(expert)
        if not ok:
            return None, []
        specs.append(spec)
        if spec is not None:
            params += [expert.conv.weight, expert.conv.bias]
    return tuple(specs), params


def _sum_to(t: Tensor, shape: Sequence[int]) -> Tensor:
    """Sum ``t`` over the dims where ``shape`` is 1 (undo broadcasting)."""
    dims = [d for d, (n, m) in enumerate(zip(t.shape, shape)) if m == 1 < n]
    return t.sum(dims, keepdim=True) if dims else t


def _param_indices(specs: Sequence[_Spec]) -> List[Optional[int]]:
    """Per expert, the index of its weight in the flat parameter list
    (its bias follows), or None for the identity."""
    indices, i = [], 0
    for spec in specs:
        indices.append(None if spec is None else i)
        i += 0 if spec is None else 2
    return indices


def _run_expert(x: Tensor, spec: _Spec, params: Sequence[Optional[Tensor]],
                i: Optional[int]) -> Tensor:
    """``e_k(x)`` of one expert of the fused path."""
    if spec is None:
        return x
    padding, dilation = spec
    return nn.functional.conv2d(x, params[i], params[i + 1], 1, padding,
                                dilation, x.shape[1])


def _expert_backward(grad: Tensor, x: Tensor, spec: _Spec,
                     params: Sequence[Optional[Tensor]], i: Optional[int],
                     need_x: bool, need_w: bool, need_b: bool
                     ) -> Tuple[Optional[Tensor], Optional[Tensor],
                                Optional[Tensor]]:
    """``(dx, dW, db)`` of one expert for the output gradient ``grad``;
    None where not needed (and for the identity's absent kernel)."""
    if i is None:  # identity
        return (grad if need_x else None), None, None
    weight, bias = params[i], params[i + 1]
    mask = [need_x, need_w, bias is not None and need_b]
    if not any(mask):
        return None, None, None
    padding, dilation = spec
    return tuple(torch.ops.aten.convolution_backward(
        grad, x, weight, None if bias is None else list(bias.shape), [1, 1],
        list(padding), list(dilation), False, [0, 0], x.shape[1], mask))


def _accumulate_expert_backward(grad: Tensor, x: Tensor, spec: _Spec,
                                params: Sequence[Optional[Tensor]],
                                i: Optional[int], need_x: bool,
                                need_params: Sequence[bool],
                                grad_x: Optional[Tensor],
                                grad_params: List[Optional[Tensor]]) -> None:
    """Back-propagate ``grad`` through one expert: add its ``dx`` to
    ``grad_x`` and store its ``dW``, ``db`` in ``grad_params``."""
    gx, gw, gb = _expert_backward(
        grad.to(x.dtype), x, spec, params, i, need_x,
        i is not None and need_params[i],
        i is not None and need_params[i + 1])
    if gx is not None:
        grad_x.add_(gx)
    if i is not None:
        grad_params[i], grad_params[i + 1] = gw, gb


def _autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype autocast gives convolutions on ``device_type``; None when
    autocast is off there."""
    if hasattr(torch, 'get_autocast_dtype'):  # torch >= 2.4
        on = torch.is_autocast_enabled(device_type)
        return torch.get_autocast_dtype(device_type) if on else None
    if device_type == 'cpu':
        on = torch.is_autocast_cpu_enabled()
        return torch.get_autocast_cpu_dtype() if on else None
    return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled(
    ) else None


def _apply(function: Callable, x: Tensor, *args):
    """``function.apply(x, *args)``, autocast-safe.

    Under autocast every floating-point tensor argument is cast to
    autocast's dtype (a differentiable cast, so fp32 parameters get fp32
    gradients) and the function runs with autocast off: forward and the
    hand-written backward see one dtype.
    """
    dtype = _autocast_dtype(x.device.type)
    if dtype is None:
        return function.apply(x, *args)

    def cast(t):
        is_float = isinstance(t, Tensor) and t.is_floating_point()
        return t.to(dtype) if is_float else t

    with torch.autocast(x.device.type, enabled=False):
        return function.apply(cast(x), *(cast(a) for a in args))


class FusedDWMixture(torch.autograd.Function):
    """``y_n = sum_k alpha_{n,k} * e_k(x)`` for N gates over depthwise-conv
    and identity experts.

    Forward runs each expert once and adds it into every ``y_n``; backward
    recomputes ``e_k(x)`` for the gates' gradients. With ``g_n = dL/dy_n``
    and ``G_k = sum_n alpha_{n,k} * g_n``:

    * ``dalpha_{n,k} = sum over broadcast dims of g_n * e_k(x)``
    * ``dx = sum_k DWConv_k^T(G_k)`` (``+ G_k`` for the identity)
    * ``dW_k``, ``db_k``: the conv's weight and bias gradients for the
      output gradient ``G_k``, one convolution backward per expert.

    Saved for backward: ``x``, the alphas and the kernels, never a
    ``(B, K, C, H, W)`` stack; backward holds a few ``(B, C, H, W)``
    buffers at a time. The backward is built of differentiable operations,
    so double backward works too.

    Call it through :func:`mix_experts` or :func:`mix_experts_shared`.
    ``apply(x, specs, num_gates, *alphas5, *params)`` takes one spec per
    expert (None or ``(padding, dilation)``), ``num_gates`` alphas of shape
    (B, K, C or 1, H or 1, W or 1) and, per conv expert in order, its weight
    then its bias (None when the conv has none); it returns the N outputs.
    """

    @staticmethod
    def forward(ctx, x: Tensor, specs: Tuple[_Spec, ...], num_gates: int,
                *inputs: Optional[Tensor]) -> Tuple[Tensor, ...]:
        alphas, params = inputs[:num_gates], inputs[num_gates:]
        outs: List[Optional[Tensor]] = [None] * num_gates
        for k, (spec, i) in enumerate(zip(specs, _param_indices(specs))):
            e = _run_expert(x, spec, params, i)
            for n, alpha5 in enumerate(alphas):
                if outs[n] is None:
                    outs[n] = alpha5[:, k] * e
                else:
                    outs[n].addcmul_(alpha5[:, k], e)
        ctx.specs, ctx.num_gates = specs, num_gates
        ctx.save_for_backward(x, *inputs)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grad_outs: Tensor):
        x, *inputs = ctx.saved_tensors
        num_gates = ctx.num_gates
        alphas, params = inputs[:num_gates], inputs[num_gates:]
        need_x = ctx.needs_input_grad[0]
        need_alpha = ctx.needs_input_grad[3:3 + num_gates]
        need_params = ctx.needs_input_grad[3 + num_gates:]
        grad_x = torch.zeros_like(x) if need_x else None
        grad_alpha: List[List[Tensor]] = [[] for _ in alphas]
        grad_params: List[Optional[Tensor]] = [None] * len(params)
        specs = ctx.specs
        for k, (spec, i) in enumerate(zip(specs, _param_indices(specs))):
            # recomputed only when a gate needs its gradient
            e_k = _run_expert(x, spec, params, i) if any(need_alpha) else None
            grad_k = None  # G_k
            for n, (alpha5, g) in enumerate(zip(alphas, grad_outs)):
                a_k = alpha5[:, k]
                if need_alpha[n]:
                    grad_alpha[n].append(_sum_to(g * e_k, a_k.shape))
                grad_k = a_k * g if grad_k is None else grad_k.addcmul_(
                    a_k, g)
            del e_k
            _accumulate_expert_backward(grad_k, x, spec, params, i, need_x,
                                        need_params, grad_x, grad_params)
        grads_alpha = [torch.stack(g, 1) if g else None for g in grad_alpha]
        return (grad_x, None, None, *grads_alpha, *grad_params)


def mix_experts_naive(x: Tensor, alpha: Tensor,
                      experts: nn.ModuleList) -> Tensor:
    """``sum_k alpha_k * experts[k](x)`` through a stack of all outputs.

    The reference for :func:`mix_experts`; works with any experts.

    Args:
        x (Tensor): (B, C, H, W).
        alpha (Tensor): (B, K, H, W) or (B, K, 1, 1) (shared by the
            channels) or (B, K, C, H, W).
        experts (nn.ModuleList): K modules mapping (B, C, H, W) to itself.

    Returns:
        Tensor: (B, C, H, W).
    """
    return mix_experts_shared_naive(x, [alpha], experts)[0]


def mix_experts_shared_naive(x: Tensor, alphas: Sequence[Tensor],
                             experts: nn.ModuleList) -> List[Tensor]:
    """:func:`mix_experts_naive` for several gates: one stack, N sums."""
    alphas5 = [_as_5d(x, alpha, len(experts)) for alpha in alphas]
    outs = torch.stack([e(x) for e in experts], dim=1)
    return [(alpha5 * outs).sum(dim=1) for alpha5 in alphas5]


def mix_experts_shared(x: Tensor, alphas: Sequence[Tensor],
                       experts: nn.ModuleList) -> List[Tensor]:
    """``[sum_k alpha_k * experts[k](x) for alpha in alphas]``: the same
    experts of the same input mixed by several gates (one per task).

    Fused (see :class:`FusedDWMixture`) when every expert is a
    :class:`~featsel.models.experts.DWConvExpert` (any kernel size and
    dilation) or an :class:`~featsel.models.experts.IdentityExpert`: no
    (B, K, C, H, W) stack is kept, each expert runs once for all gates and
    its convolution backward once. Otherwise (other expert types, or a
    subclass that overrides ``forward``) the experts run once into a stack
    shared by the gates. Forward hooks of fused experts are not called.

    Args:
        x (Tensor): (B, C, H, W).
        alphas (Sequence[Tensor]): Gates, each (B, K, H, W) or (B, K, 1, 1)
            (shared by the channels) or (B, K, C, H, W); shapes may differ.
        experts (nn.ModuleList): K experts.

    Returns:
        list[Tensor]: One (B, C, H, W) mixture per gate.
    """
    alphas5 = [_as_5d(x, alpha, len(experts)) for alpha in alphas]
    specs, params = _fused_specs(experts)
    if specs is None or not specs or not alphas5:
        return mix_experts_shared_naive(x, alphas, experts)
    return list(_apply(FusedDWMixture, x, specs, len(alphas5), *alphas5,
                       *params))


def mix_experts(x: Tensor, alpha: Tensor, experts: nn.ModuleList) -> Tensor:
    """``sum_k alpha_k * experts[k](x)`` without keeping a stack of outputs.

    Uses :class:`FusedDWMixture` when every expert is a
    :class:`~featsel.models.experts.DWConvExpert` (any kernel size and
    dilation) or an :class:`~featsel.models.experts.IdentityExpert`, and
    :func:`mix_experts_naive` otherwise. To mix the same experts with
    several gates, :func:`mix_experts_shared` runs them once for all.

    Args:
        x (Tensor): (B, C, H, W).
        alpha (Tensor): (B, K, H, W) or (B, K, 1, 1) (shared by the
            channels) or (B, K, C, H, W).
        experts (nn.ModuleList): K experts.

    Returns:
        Tensor: (B, C, H, W), equal to :func:`mix_experts_naive`.
    """
    return mix_experts_shared(x, [alpha], experts)[0]


def _dot(u: Tensor, v: Tensor, dtype: torch.dtype) -> Tensor:
    """Per-sample inner product of (B, ...) tensors, in ``dtype``: (B, )."""
    return torch.linalg.vecdot(u.flatten(1).to(dtype), v.flatten(1).to(dtype))


class FusedExpertGram(torch.autograd.Function):
    """Per-sample Gram matrix of the expert outputs,
    ``G_{b,k,k'} = <e_k(x)_b, e_k'(x)_b>`` over ``C*H*W``, for depthwise-conv
    and identity experts, without a ``(B, K, C, H, W)`` stack.

    Forward runs the experts pair by pair (``K(K+1)/2`` runs, at most two
    outputs alive). With ``g = dL/dG`` and ``M = g + g^T``, backward forms
    ``z_k = sum_k' M_{k,k'} * e_k'(x)`` expert by expert (``K^2`` runs) and
    back-propagates ``z_k`` through expert ``k`` (one convolution backward
    per expert). Saved: ``x`` and the kernels. ``G`` is accumulated in
    float32 (float64 for float64 inputs). First-order gradients only.

    Call it through :func:`expert_gram`. ``apply(x, specs, *params)`` takes
    the same specs and parameters as :class:`FusedDWMixture`.
    """

    @staticmethod
    def forward(ctx, x: Tensor, specs: Tuple[_Spec, ...],
                *params: Optional[Tensor]) -> Tensor:
        acc = torch.promote_types(x.dtype, torch.float32)
        k = len(specs)
        indices = _param_indices(specs)
        gram = x.new_zeros(x.shape[0], k, k, dtype=acc)
        for a in range(k):
            e_a = _run_expert(x, specs[a], params, indices[a])
            gram[:, a, a] = _dot(e_a, e_a, acc)
            for c in range(a + 1, k):
                dot = _dot(e_a, _run_expert(x, specs[c], params, indices[c]),
                           acc)
                gram[:, a, c] = gram[:, c, a] = dot
        ctx.specs = specs
        ctx.save_for_backward(x, *params)
        return gram

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_gram: Tensor):
        x, *params = ctx.saved_tensors
        specs = ctx.specs
        indices = _param_indices(specs)
        need_x = ctx.needs_input_grad[0]
        need_params = ctx.needs_input_grad[2:]
        weights = grad_gram + grad_gram.transpose(1, 2)  # M, (B, K, K)
        grad_x = torch.zeros_like(x) if need_x else None
        grad_params: List[Optional[Tensor]] = [None] * len(params)
        for a, (spec, i) in enumerate(zip(specs, indices)):
            if not (need_x or (i is not None and any(need_params[i:i + 2]))):
                continue
            z = None  # z_a, in the Gram's dtype
            for c, (spec_c, i_c) in enumerate(zip(specs, indices)):
                m = weights[:, a, c].view(-1, 1, 1, 1)
                e_c = _run_expert(x, spec_c, params, i_c)
                z = m * e_c if z is None else z.addcmul_(m, e_c)
            _accumulate_expert_backward(z, x, spec, params, i, need_x,
                                        need_params, grad_x, grad_params)
        return (grad_x, None, *grad_params)


def expert_gram_naive(expert_outputs: Tensor) -> Tensor:
    """Per-sample Gram matrix of a stack of expert outputs.

    Args:
        expert_outputs (Tensor): (B, K, ...).

    Returns:
        Tensor: (B, K, K) in float32 (float64 for float64 inputs).
    """
    b, k = expert_outputs.shape[:2]
    acc = torch.promote_types(expert_outputs.dtype, torch.float32)
    flat = expert_outputs.reshape(b, k, -1).to(acc)
    return flat @ flat.transpose(1, 2)


def expert_gram(x: Tensor, experts: nn.ModuleList) -> Tensor:
    """``G_{b,k,k'} = <e_k(x)_b, e_k'(x)_b>``, the inner products of the
    expert outputs of each sample over ``C*H*W``.

    With :class:`~featsel.models.experts.DWConvExpert` and
    :class:`~featsel.models.experts.IdentityExpert` experts only,
    :class:`FusedExpertGram` computes it without keeping a
    (B, K, C, H, W) stack (the experts run again instead); other experts
    go through :func:`expert_gram_naive` on the stack.

    Args:
        x (Tensor): (B, C, H, W).
        experts (nn.ModuleList): K experts.

    Returns:
        Tensor: (B, K, K), symmetric, in float32 (float64 for float64 x).
    """
    if x.dim() != 4:
        raise ValueError(f'x must be (B, C, H, W), got {tuple(x.shape)}')
    specs, params = _fused_specs(experts)
    if not specs:
        return expert_gram_naive(torch.stack([e(x) for e in experts], 1))
    return _apply(FusedExpertGram, x, specs, *params)
