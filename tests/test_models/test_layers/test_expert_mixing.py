import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from featsel.models.experts import DWConvExpert, IdentityExpert
from featsel.models.layers import (expert_gram, expert_gram_naive,
                                   mix_experts, mix_experts_naive,
                                   mix_experts_shared,
                                   mix_experts_shared_naive)
from featsel.models.layers.expert_mixing import (FusedDWMixture,
                                                 FusedExpertGram,
                                                 _fused_specs)

C = 3
ALPHA_SHAPES = {
    'pixel': (2, 4, 6, 7),
    'image': (2, 4, 1, 1),
    'channel_pixel': (2, 4, C, 6, 7),
    'pixel_5d': (2, 4, 1, 6, 7),
}


def _weak_prior(dtype=torch.float32) -> nn.ModuleList:
    torch.manual_seed(0)
    experts = nn.ModuleList([
        DWConvExpert(C, 3),
        DWConvExpert(C, 3, dilation=2),
        DWConvExpert(C, 5),
        IdentityExpert(C),
    ]).to(dtype)
    with torch.no_grad():  # non-zero biases, so their gradients are tested
        for p in experts.parameters():
            p.uniform_(-1, 1)
    return experts


def _inputs(alpha_shape, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, C, 6, 7, generator=g, dtype=dtype)
    alpha = torch.randn(alpha_shape, generator=g, dtype=dtype).softmax(1)
    return x.requires_grad_(), alpha.requires_grad_()


def _value_and_grads(fn, x, alpha, experts):
    out = fn(x, alpha, experts)
    # a non-uniform upstream gradient, so every term of backward matters
    weight = torch.linspace(-1, 2, out.numel(), dtype=out.dtype)
    loss = (out * weight.view_as(out)).sum()
    grads = torch.autograd.grad(loss, [x, alpha, *experts.parameters()])
    return out, grads


@pytest.mark.parametrize('alpha_shape', ALPHA_SHAPES.values(),
                         ids=list(ALPHA_SHAPES))
def test_fused_matches_naive_values_and_grads(alpha_shape):
    experts = _weak_prior()
    x, alpha = _inputs(alpha_shape)
    out_f, grads_f = _value_and_grads(mix_experts, x, alpha, experts)
    out_n, grads_n = _value_and_grads(mix_experts_naive, x, alpha, experts)
    assert out_f.shape == (2, C, 6, 7)
    assert out_f.grad_fn.name().startswith('FusedDWMixture')
    torch.testing.assert_close(out_f, out_n, atol=1e-5, rtol=1e-5)
    names = ['x', 'alpha'] + [n for n, _ in experts.named_parameters()]
    assert len(grads_f) == len(names) == 8  # x, alpha, 3 weights, 3 biases
    for name, gf, gn in zip(names, grads_f, grads_n):
        assert gf.shape == gn.shape, name
        torch.testing.assert_close(gf, gn, atol=1e-5, rtol=1e-5,
                                   msg=lambda m, n=name: f'{n}: {m}')


@pytest.mark.parametrize('alpha_shape', ALPHA_SHAPES.values(),
                         ids=list(ALPHA_SHAPES))
def test_fused_gradcheck_float64(alpha_shape):
    experts = _weak_prior(torch.float64)
    x, alpha = _inputs(alpha_shape, torch.float64)
    specs, _ = _fused_specs(experts)
    alpha5 = alpha.unsqueeze(2) if alpha.dim() == 4 else alpha

    def fused(x, alpha5, *params):
        return FusedDWMixture.apply(x, specs, 1, alpha5, *params)[0]

    params = tuple(experts.parameters())
    assert torch.autograd.gradcheck(fused, (x, alpha5, *params))


def test_fused_gradcheck_float64_several_gates():
    experts = _weak_prior(torch.float64)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, C, 4, 5, generator=g, dtype=torch.float64)
    pixel = torch.rand(1, 4, 1, 4, 5, generator=g, dtype=torch.float64)
    channel = torch.rand(1, 4, C, 4, 5, generator=g, dtype=torch.float64)
    specs, _ = _fused_specs(experts)

    def fused(x, a1, a2, *params):
        return FusedDWMixture.apply(x, specs, 2, a1, a2, *params)

    inputs = tuple(t.requires_grad_() for t in
                   (x, pixel, channel, *experts.parameters()))
    assert torch.autograd.gradcheck(fused, inputs)
    assert torch.autograd.gradgradcheck(fused, inputs)


class _CountOps(TorchDispatchMode):
    """Counts the aten operators run inside the ``with`` block."""

    def __init__(self):
        super().__init__()
        self.calls = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        self.calls[name] = self.calls.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def test_shared_gates_match_naive_and_run_each_expert_once():
    """Three gates (one per task), one pass: same values and gradients as
    a shared stack, and every conv expert runs forward, recomputed and
    backward once each whatever the number of gates."""
    experts = _weak_prior()
    x, _ = _inputs((2, 4, 1, 1))
    alphas = [_inputs(shape, seed=s)[1] for s, shape in enumerate(
        (ALPHA_SHAPES['pixel'], ALPHA_SHAPES['image'],
         ALPHA_SHAPES['channel_pixel']), 2)]
    inputs = [x, *alphas, *experts.parameters()]
    results = []
    for fn in (mix_experts_shared, mix_experts_shared_naive):
        with _CountOps() as ops:
            outs = fn(x, alphas, experts)
            grads = torch.autograd.grad(
                outs, inputs, [torch.full_like(o, 0.5) * (i + 1)
                               for i, o in enumerate(outs)])
        results.append((outs, grads, ops.calls))
    (outs_f, grads_f, ops_f), (outs_n, grads_n, _) = results
    assert [o.shape for o in outs_f] == [(2, C, 6, 7)] * 3
    for got, want in zip([*outs_f, *grads_f], [*outs_n, *grads_n]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert ops_f['aten.convolution.default'] == 2 * 3  # forward, recompute
    assert ops_f['aten.convolution_backward.default'] == 3
    # one gate: the same as mix_experts
    torch.testing.assert_close(mix_experts_shared(x, alphas[:1], experts)[0],
                               mix_experts(x, alphas[0], experts))


def test_fused_without_bias_and_partial_grads():
    torch.manual_seed(0)
    experts = nn.ModuleList([DWConvExpert(C, 3), DWConvExpert(C, 5)])
    experts[0].conv.bias = None
    experts[1].conv.weight.requires_grad_(False)
    x, alpha = _inputs((2, 2, 6, 7))
    x.requires_grad_(False)  # only alpha and some parameters need grads
    params = [p for p in experts.parameters() if p.requires_grad]
    outs, grads = [], []
    for fn in (mix_experts, mix_experts_naive):
        out = fn(x, alpha, experts)
        outs.append(out)
        grads.append(torch.autograd.grad(out.square().sum(),
                                         [alpha, *params]))
    torch.testing.assert_close(outs[0], outs[1])
    for gf, gn in zip(*grads):
        torch.testing.assert_close(gf, gn, atol=1e-5, rtol=1e-5)


def _saved_shapes(fn, *args) -> list:
    """Shapes of the tensors autograd saves for backward in ``fn(*args)``."""
    saved = []

    def pack(t):
        saved.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return saved


def test_fused_keeps_no_expert_stack_for_backward():
    """Saved tensors are x, alpha and the kernels, no (B, K, C, H, W)."""
    experts = _weak_prior()
    x, alpha = _inputs((2, 4, 6, 7))
    saved = _saved_shapes(mix_experts, x, alpha, experts)
    assert (2, C, 6, 7) in saved and (2, 4, 1, 6, 7) in saved
    assert all(s[1:] != (4, C, 6, 7) for s in saved), saved
    assert sum(torch.Size(s).numel() for s in saved) < 3 * x.numel()

    saved = _saved_shapes(mix_experts_naive, x, alpha, experts)
    assert (2, 4, C, 6, 7) in saved  # what the fused path avoids


class _Scale(nn.Module):

    def forward(self, x):
        return 2 * x


class _ShiftedDW(DWConvExpert):

    def forward(self, x):
        return super().forward(x) + 1


@pytest.mark.parametrize('odd', [_Scale(), _ShiftedDW(C)],
                         ids=['other_module', 'dw_subclass_forward'])
def test_mixed_experts_fall_back_to_naive(odd):
    torch.manual_seed(0)
    experts = nn.ModuleList([DWConvExpert(C, 3), IdentityExpert(C), odd])
    x, alpha = _inputs((2, 3, 6, 7))
    out = mix_experts(x, alpha, experts)
    assert 'FusedDWMixture' not in out.grad_fn.name()
    torch.testing.assert_close(out, mix_experts_naive(x, alpha, experts))


def test_no_grad_and_single_identity():
    experts = nn.ModuleList([IdentityExpert(C)])
    x, alpha = _inputs((2, 1, 1, 1))
    with torch.no_grad():
        out = mix_experts(x, alpha, experts)
    torch.testing.assert_close(out, x.detach())


def test_bad_alpha_shapes_are_named():
    experts = _weak_prior()
    x, _ = _inputs((2, 4, 1, 1))
    with pytest.raises(ValueError, match=r'K = 4 experts, got \(2, 3, 6, 7\)'):
        mix_experts(x, torch.rand(2, 3, 6, 7), experts)
    with pytest.raises(ValueError, match='does not broadcast'):
        mix_experts(x, torch.rand(2, 4, 5, 7), experts)
    with pytest.raises(ValueError, match=r'x must be \(B, C, H, W\)'):
        mix_experts(x[0], torch.rand(2, 4, 1, 1), experts)


# ------------------------------------------------------------- autocast
def _autocast_step(amp: bool, experts: nn.ModuleList):
    """An fp32 conv before the experts (so autocast hands them bf16
    features, as the encoder does), a gate, the mixing and the Gram
    matrix; returns the outputs and the gradients of every parameter."""
    torch.manual_seed(2)
    pre, gate = nn.Conv2d(C, C, 1), nn.Conv2d(C, 4, 1)
    g = torch.Generator().manual_seed(3)
    image = torch.randn(2, C, 6, 7, generator=g).requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        x = pre(image)
        outs = mix_experts_shared(
            x, [gate(x).softmax(1), gate(x).mean((2, 3), True).softmax(1)],
            experts)
        gram = expert_gram(x, experts)
    loss = sum(o.float().square().mean() for o in outs) + gram.mean()
    params = [image, *pre.parameters(), *gate.parameters(),
              *experts.parameters()]
    return outs, gram, torch.autograd.grad(loss, params)


def test_fused_paths_train_under_bf16_autocast():
    """Forward and backward under CPU bf16 autocast (the backward used to
    meet a bf16 input and an fp32 bias): finite gradients of the fp32
    parameters, close to the fp32 run within bf16 precision."""
    experts = _weak_prior()
    outs16, gram16, grads16 = _autocast_step(True, experts)
    outs32, gram32, grads32 = _autocast_step(False, experts)
    assert _dtype_of(outs16) == torch.bfloat16
    assert gram16.dtype == torch.float32  # accumulated in float32
    for got, want in zip(outs16, outs32):
        torch.testing.assert_close(got.float(), want, atol=0.05, rtol=0.02)
    torch.testing.assert_close(gram16, gram32, atol=0.5, rtol=0.02)
    for got, want in zip(grads16, grads32):
        assert got.dtype == torch.float32 and torch.isfinite(got).all()
        scale = want.abs().max()
        assert (got - want).abs().max() <= 0.03 * scale


def _dtype_of(outs) -> torch.dtype:
    (dtype, ) = {o.dtype for o in outs}
    return dtype


# ---------------------------------------------------------- Gram matrix
def test_gram_matches_the_stack_and_gradchecks():
    experts = _weak_prior(torch.float64)
    x, _ = _inputs((2, 4, 1, 1), torch.float64)
    gram = expert_gram(x, experts)
    assert gram.grad_fn.name().startswith('FusedExpertGram')
    want = expert_gram_naive(torch.stack([e(x) for e in experts], 1))
    torch.testing.assert_close(gram, want)
    torch.testing.assert_close(gram, gram.transpose(1, 2))
    specs, params = _fused_specs(experts)
    x = x.detach()[:1, :, :4, :5].requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, *p: FusedExpertGram.apply(x, specs, *p), (x, *params))


def test_gram_keeps_no_expert_stack_for_backward():
    experts = _weak_prior()
    x, _ = _inputs((2, 4, 1, 1))
    saved = []

    def pack(t):
        saved.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        expert_gram(x, experts)
    assert sum(torch.Size(s).numel() for s in saved) < 2 * x.numel(), saved
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        expert_gram_naive(torch.stack([e(x) for e in experts], 1))
    assert (2, 4, C, 6, 7) in saved or (2, 4, C * 6 * 7) in saved


def test_gram_of_other_experts_uses_the_stack():
    torch.manual_seed(0)
    experts = nn.ModuleList([DWConvExpert(C, 3), _Scale()])
    x, _ = _inputs((2, 2, 1, 1))
    gram = expert_gram(x, experts)
    assert 'FusedExpertGram' not in gram.grad_fn.name()
    torch.testing.assert_close(
        gram, expert_gram_naive(torch.stack([e(x) for e in experts], 1)))
