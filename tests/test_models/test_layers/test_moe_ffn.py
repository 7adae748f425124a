"""Token mixture of experts: TopKRouter, FFNExpert, the balance and z
losses, and MoEFFN's sparse dispatch against a dense reference."""
import copy
import math

import pytest
import torch
from torch import nn

from featsel.models.builder import (build_expert, build_router,
                                    list_components)
from featsel.models.experts import FFNExpert
from featsel.models.layers import MoEFFN
from featsel.models.losses import router_z_loss, switch_balance_loss
from featsel.models.routers import Routing, TopKRouter

D, HIDDEN, E = 6, 5, 4


def make_moe(top_k: int = 2, num_experts: int = E, act: str = 'GELU',
             renormalize: bool = True, dtype=torch.float64,
             seed: int = 0, **kwargs) -> MoEFFN:
    torch.manual_seed(seed)
    moe = MoEFFN(
        embed_dims=D, num_experts=num_experts, top_k=top_k,
        expert=dict(type='FFNExpert', hidden_dims=HIDDEN,
                    act_cfg=dict(type=act)),
        router=dict(type='TopKRouter', renormalize=renormalize), **kwargs)
    return moe.to(dtype)


def dense_reference(moe: MoEFFN, x: torch.Tensor) -> torch.Tensor:
    """Every expert on every token, mixed with an (N, E) weight matrix
    scattered from the routing: the same function as the sparse path."""
    tokens = x.reshape(-1, moe.embed_dims)
    routing = moe.router(tokens)
    mix = torch.zeros_like(routing.probs).scatter(1, routing.indices,
                                                  routing.weights)
    outs = torch.stack([expert(tokens) for expert in moe.experts], 1)
    y = (mix.unsqueeze(-1).to(outs.dtype) * outs).sum(1)
    return x + y.view(x.shape)


# ---------------------------------------------------------------- router --
def test_router_renormalises_the_topk_softmax():
    torch.manual_seed(0)
    router = TopKRouter(D, num_experts=5, top_k=3)
    x = torch.randn(7, D)
    r = router(x)
    assert isinstance(r, Routing)
    assert r.indices.shape == (7, 3) and r.indices.dtype == torch.long
    assert r.weights.shape == (7, 3) and r.probs.shape == (7, 5)
    torch.testing.assert_close(r.probs, r.logits.softmax(-1))
    top, idx = torch.topk(r.probs, 3, dim=-1)
    assert torch.equal(r.indices, idx)
    torch.testing.assert_close(r.weights.sum(-1), torch.ones(7))
    torch.testing.assert_close(r.weights,
                               top / top.sum(-1, keepdim=True))
    torch.testing.assert_close(
        r.weights, r.probs.gather(1, r.indices)
        / r.probs.gather(1, r.indices).sum(-1, keepdim=True))
    # differentiable weights and probs
    (r.weights[:, 0].sum() + r.probs[:, -1].sum()).backward()
    assert router.gate.weight.grad.abs().sum() > 0


def test_router_without_renormalisation_keeps_probabilities():
    torch.manual_seed(0)
    router = TopKRouter(D, num_experts=4, top_k=1, renormalize=False)
    r = router(torch.randn(5, D))
    torch.testing.assert_close(r.weights, r.probs.max(-1, keepdim=True)[0])


def test_router_computes_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    router = TopKRouter(D, num_experts=4, top_k=2)
    x = torch.randn(9, D)
    ref = router(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        r = router(x.bfloat16())
    for t in (r.logits, r.probs, r.weights):
        assert t.dtype == torch.float32
    # the same as a float32 router on the bf16-rounded input
    torch.testing.assert_close(r.logits,
                               router(x.bfloat16().float()).logits)
    # bf16 weights are cast up as well
    half = copy.deepcopy(router).to(torch.bfloat16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert half(x.bfloat16()).logits.dtype == torch.float32
    assert ref.logits.dtype == torch.float32


def test_router_jitter_only_in_training():
    torch.manual_seed(0)
    router = TopKRouter(D, num_experts=4, top_k=2, jitter_noise=0.1)
    x = torch.randn(6, D)
    router.eval()
    assert torch.equal(router(x).logits, router(x).logits)
    router.train()
    a, b = router(x).logits, router(x).logits
    assert not torch.equal(a, b)
    # |W (x * u) - W x| <= eps * |W| |x| for u in [1 - eps, 1 + eps]
    bound = 0.1 * x.abs() @ router.gate.weight.abs().t()
    assert ((a - router.gate(x)).abs() <= bound + 1e-6).all()


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_experts=4, top_k=5), 'top_k'),
    (dict(num_experts=4, top_k=0), 'top_k'),
    (dict(num_experts=0, top_k=1), 'num_experts'),
    (dict(num_experts=4, top_k=1, jitter_noise=1.5), 'jitter_noise'),
])
def test_router_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TopKRouter(D, **kwargs)


def test_router_rejects_wrong_token_width():
    with pytest.raises(ValueError, match=f'\\(N, {D}\\)'):
        TopKRouter(D, 4, 2)(torch.randn(3, D + 1))


# ---------------------------------------------------------------- expert --
@pytest.mark.parametrize('act', ['ReLU', 'GELU', 'SiLU'])
def test_ffn_expert_shapes_and_activation(act):
    torch.manual_seed(0)
    expert = build_expert(dict(type='FFNExpert', hidden_dims=HIDDEN,
                               act_cfg=dict(type=act)), embed_dims=D)
    assert isinstance(expert, FFNExpert)
    assert type(expert.act).__name__ == act
    x = torch.randn(3, D)
    y = expert(x)
    assert y.shape == (3, D)
    ref = expert.fc2(getattr(nn, act)()(expert.fc1(x)))
    torch.testing.assert_close(y, ref)


def test_components_are_discoverable_and_typed():
    assert 'FFNExpert' in list_components('expert')
    assert 'TopKRouter' in list_components('router')
    with pytest.raises(TypeError, match='is not a router'):
        build_router(dict(type='FFNExpert', embed_dims=D, hidden_dims=4))


# ---------------------------------------------------------------- losses --
@pytest.mark.parametrize('top_k', [1, 2, 3])
def test_balance_loss_is_one_at_uniform_routing(top_k):
    num_experts, num_tokens = 6, 12
    probs = torch.full((num_tokens, num_experts), 1 / num_experts,
                       dtype=torch.float64)
    # token n takes experts n*k, ..., n*k + k - 1 (mod E): every expert gets
    # exactly num_tokens * k / E slots
    indices = (torch.arange(num_tokens)[:, None] * top_k
               + torch.arange(top_k)[None]) % num_experts
    assert torch.bincount(indices.flatten()).unique().numel() == 1
    loss = switch_balance_loss(probs, indices, num_experts)
    assert loss.item() == pytest.approx(1.0, abs=1e-6)


def test_balance_loss_is_the_switch_loss_for_top1():
    torch.manual_seed(0)
    num_tokens, num_experts = 10, 4
    probs = torch.randn(num_tokens, num_experts).softmax(-1)
    indices = probs.argmax(-1, keepdim=True)
    by_hand = 0.0
    for i in range(num_experts):
        f_i = sum(int(indices[n, 0]) == i
                  for n in range(num_tokens)) / num_tokens
        p_i = sum(float(probs[n, i]) for n in range(num_tokens)) / num_tokens
        by_hand += f_i * p_i
    by_hand *= num_experts
    loss = switch_balance_loss(probs, indices, num_experts)
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)


def test_balance_loss_of_collapsed_routing():
    num_tokens, num_experts = 8, 4
    probs = torch.zeros(num_tokens, num_experts)
    probs[:, 0] = 1
    indices = torch.zeros(num_tokens, 1, dtype=torch.long)
    loss = switch_balance_loss(probs, indices, num_experts)
    assert loss.item() == pytest.approx(num_experts)
    # top-2, everything on experts 0 and 1
    probs2 = torch.tensor([[0.5, 0.5, 0.0, 0.0]]).repeat(num_tokens, 1)
    indices2 = torch.tensor([[0, 1]]).repeat(num_tokens, 1)
    assert switch_balance_loss(probs2, indices2, num_experts).item() > 1


def test_balance_loss_gradient_reaches_probs_only():
    probs = torch.randn(5, 3).softmax(-1).requires_grad_()
    indices = probs.argmax(-1, keepdim=True)
    switch_balance_loss(probs, indices, 3).backward()
    counts = torch.bincount(indices.flatten(), minlength=3).float()
    torch.testing.assert_close(probs.grad,
                               (3 * counts / 5 / 5).expand(5, 3))


def test_router_z_loss_by_hand():
    logits = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    expected = (math.log(2) ** 2 + math.log(math.e + math.e ** 2) ** 2) / 2
    assert router_z_loss(logits).item() == pytest.approx(expected)


def test_losses_of_no_tokens_are_zero():
    probs = torch.zeros(0, 4, requires_grad=True)
    indices = torch.zeros(0, 2, dtype=torch.long)
    assert switch_balance_loss(probs, indices, 4).item() == 0
    assert router_z_loss(probs).item() == 0


# ---------------------------------------------------------------- MoEFFN --
@pytest.mark.parametrize('act', ['ReLU', 'GELU', 'SiLU'])
@pytest.mark.parametrize('top_k, renormalize',
                         [(1, True), (1, False), (2, True), (3, True)])
def test_sparse_dispatch_equals_dense_reference(top_k, renormalize, act):
    moe = make_moe(top_k=top_k, act=act, renormalize=renormalize)
    x = torch.randn(2, 7, D, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(2, 7, D, dtype=torch.float64)
    params = [moe.router.gate.weight] + [
        p for expert in moe.experts for p in expert.parameters()]

    y = moe(x)
    g_sparse = torch.autograd.grad((y * grad_out).sum(), [x] + params,
                                   allow_unused=True)
    y_ref = dense_reference(moe, x)
    g_dense = torch.autograd.grad((y_ref * grad_out).sum(), [x] + params,
                                  allow_unused=True)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(g_sparse, g_dense):
        a = torch.zeros_like(b) if a is None else a
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    if top_k > 1 or not renormalize:  # a top-1 weight of 1 is constant
        assert g_sparse[1].abs().sum() > 0


def test_sparse_dispatch_equals_dense_reference_float32():
    moe = make_moe(top_k=2, dtype=torch.float32)
    x = torch.randn(3, 5, D, requires_grad=True)
    y = moe(x)
    gx, gw = torch.autograd.grad(y.square().sum(),
                                 [x, moe.router.gate.weight])
    y_ref = dense_reference(moe, x)
    gx_ref, gw_ref = torch.autograd.grad(y_ref.square().sum(),
                                         [x, moe.router.gate.weight])
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-6)


def test_each_expert_sees_only_its_tokens():
    moe = make_moe(top_k=2)
    rows = []
    for expert in moe.experts:
        expert.register_forward_hook(
            lambda m, args, out: rows.append(args[0].shape[0]))
    x = torch.randn(2, 9, D, dtype=torch.float64)
    moe(x)
    assert sum(rows) == 2 * 9 * 2  # N * k rows in all, not N * E
    load = moe.last_expert_load
    assert load.shape == (E,) and not load.requires_grad
    torch.testing.assert_close(load.sum(), torch.tensor(1.0))
    routing = moe.router(x.reshape(-1, D))
    counts = torch.bincount(routing.indices.flatten(), minlength=E)
    torch.testing.assert_close(load, counts.float() / counts.sum())
    assert sorted(rows) == sorted(c for c in counts.tolist() if c)


def test_experts_without_tokens_are_skipped():
    moe = make_moe(top_k=2)
    with torch.no_grad():  # positive tokens always pick experts 0 and 1
        moe.router.gate.weight.copy_(torch.tensor(
            [[1.0] * D, [0.5] * D, [-1.0] * D, [-1.0] * D]))
    x = torch.rand(2, 4, D, dtype=torch.float64, requires_grad=True)
    y = moe(x)
    torch.testing.assert_close(
        moe.last_expert_load, torch.tensor([0.5, 0.5, 0.0, 0.0]))
    (y.sum() + sum(moe.aux_losses().values())).backward()
    assert x.grad is not None
    for expert in moe.experts[:2]:
        assert expert.fc1.weight.grad.abs().sum() > 0
    for expert in moe.experts[2:]:
        for p in expert.parameters():
            assert p.grad is None or not p.grad.any()
    torch.testing.assert_close(y, dense_reference(moe, x))


def test_identity_and_add_identity():
    moe = make_moe(top_k=2)
    x = torch.randn(2, 3, D, dtype=torch.float64)
    identity = torch.randn_like(x)
    mixture = make_moe(top_k=2, add_identity=False)(x)
    torch.testing.assert_close(moe(x), x + mixture)
    torch.testing.assert_close(moe(x, identity), identity + mixture)


def test_any_leading_shape():
    moe = make_moe(top_k=1)
    x = torch.randn(2, 3, 4, D, dtype=torch.float64)
    assert moe(x).shape == x.shape
    assert moe(x[0, 0]).shape == (4, D)
    empty = torch.zeros(0, D, dtype=torch.float64)
    assert moe(empty).shape == (0, D)
    assert moe.aux_losses()['loss_balance'].item() == 0


def test_aux_losses():
    moe = make_moe(top_k=2, balance_loss_weight=0.1)
    assert moe.aux_losses() == {}
    assert moe.last_expert_load is None
    x = torch.randn(2, 5, D, dtype=torch.float64)
    moe(x)
    losses = moe.aux_losses()
    assert set(losses) == {'loss_balance'}
    routing = moe.router(x.reshape(-1, D))
    balance = switch_balance_loss(routing.probs, routing.indices, E)
    torch.testing.assert_close(losses['loss_balance'], 0.1 * balance)
    losses['loss_balance'].backward()
    assert moe.router.gate.weight.grad.abs().sum() > 0

    moe = make_moe(top_k=2, z_loss_weight=0.01)
    moe(x)
    losses = moe.aux_losses()
    assert set(losses) == {'loss_balance', 'loss_router_z'}
    torch.testing.assert_close(losses['loss_router_z'],
                               0.01 * router_z_loss(routing.logits))


def test_bf16_autocast_forward_and_backward():
    moe = make_moe(top_k=2, dtype=torch.float32)
    x = torch.randn(2, 6, D, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = moe(x)
    assert y.shape == x.shape
    y.float().sum().backward()
    assert x.grad is not None
    assert moe.last_balance_loss.dtype == torch.float32


@pytest.mark.parametrize('kwargs, match', [
    (dict(top_k=5), 'top_k'),
    (dict(router=dict(type='TopKRouter', num_experts=3)), 'num_experts=3'),
    (dict(router=dict(type='TopKRouter', top_k=1)), 'top_k=1'),
    (dict(expert=dict(type='FFNExpert', embed_dims=8, hidden_dims=4)),
     'embed_dims=8'),
    (dict(dropout=1.0), 'dropout'),
])
def test_moe_rejects_inconsistent_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MoEFFN(embed_dims=D, num_experts=E, **{'top_k': 2, **kwargs})


def test_builds_unprefixed_from_mmdet_and_featsel_registries():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import DefaultScope

    from featsel.registry import MODELS as FEATSEL_MODELS
    cfg = dict(type='MoEFFN', embed_dims=D, num_experts=3, top_k=2,
               expert=dict(type='FFNExpert', hidden_dims=4,
                           act_cfg=dict(type='SiLU')))
    with DefaultScope.overwrite_default_scope('mmdet'):
        moe = MMDET_MODELS.build(cfg)
    assert isinstance(moe, MoEFFN) and len(moe.experts) == 3
    assert isinstance(FEATSEL_MODELS.build(cfg), MoEFFN)


def test_replaces_the_ffn_of_an_mmdet_encoder_layer():
    from mmdet.models.layers.transformer import DetrTransformerEncoderLayer
    torch.manual_seed(0)
    layer = DetrTransformerEncoderLayer(
        self_attn_cfg=dict(embed_dims=8, num_heads=2),
        ffn_cfg=dict(embed_dims=8, feedforward_channels=16))
    layer.ffn = MoEFFN(embed_dims=8, num_experts=4, top_k=2,
                       expert=dict(type='FFNExpert', hidden_dims=8))
    query = torch.randn(2, 5, 8)
    out = layer(query, query_pos=torch.zeros_like(query),
                key_padding_mask=None)
    assert out.shape == query.shape
    assert set(layer.ffn.aux_losses()) == {'loss_balance'}


def test_ignored_tokens_leave_the_statistics_unchanged():
    """Denoising queries appended to the matching ones (True in the mask)
    run through their experts but change neither the load nor the losses:
    they do not exist at inference."""
    from featsel.models.layers.moe_ffn import moe_ignore_tokens
    moe = make_moe(top_k=2, z_loss_weight=0.1)
    g = torch.Generator().manual_seed(0)
    matching = torch.randn(2, 7, D, generator=g, dtype=torch.float64)
    denoising = torch.randn(2, 5, D, generator=g, dtype=torch.float64) * 3
    out_alone = moe(matching)
    load, losses = moe.last_expert_load, moe.aux_losses()
    is_dn = torch.arange(12) < 5
    with moe_ignore_tokens(moe, is_dn):
        out = moe(torch.cat([denoising, matching], 1))
    torch.testing.assert_close(out[:, 5:], out_alone)
    torch.testing.assert_close(moe.last_expert_load, load)
    for key, value in moe.aux_losses().items():
        torch.testing.assert_close(value, losses[key])
    assert moe.ignore_mask is None  # cleared on leaving the block
    # without the mask the denoising queries would count
    moe(torch.cat([denoising, matching], 1))
    assert not torch.allclose(moe.last_balance_loss,
                              losses['loss_balance'] / 0.05)
