import pytest
import torch

from featsel.models import build_gating
from featsel.registry import MODELS

IN_CHANNELS = [4, 8, 16]


def _feats(batch=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, size // 2**i, size // 2**i, generator=g)
            for i, c in enumerate(IN_CHANNELS)]


def _decoder(**kwargs):
    cfg = dict(type='PatchGateDecoder', tasks=['a', 'b'],
               in_channels=IN_CHANNELS, channels=6)
    cfg.update(kwargs)
    return MODELS.build(cfg)


@pytest.mark.parametrize('gate, alpha_shape', [
    (dict(type='ChannelDWScaleGate'), (2, 3, 6, 16, 16)),
    (dict(type='PixelScaleGate', hidden_channels=8), (2, 3, 1, 16, 16)),
])
def test_gates_sum_to_one_over_scales(gate, alpha_shape):
    dec = _decoder(gate=gate)
    feats = _feats()
    out = dec({'a': feats, 'b': feats})
    assert out['a'].shape == (2, 6, 16, 16)
    for alpha in dec.last_alphas.values():
        assert alpha.shape == alpha_shape
        torch.testing.assert_close(alpha.sum(1), torch.ones_like(alpha[:, 0]))


def test_fusion_level_sets_the_output_size():
    dec = _decoder(fusion_level=1)
    feats = _feats()
    assert dec({'a': feats, 'b': feats})['b'].shape == (2, 6, 8, 8)


def test_fusion_equals_weighted_sum_of_projected_scales():
    dec = _decoder(refine=False).eval()
    feats = _feats()
    out = dec({'a': feats, 'b': feats})['a']
    stacked = dec.project(feats)  # (B, S, C, H, W)
    expected = (dec.last_alphas['a'] * stacked).sum(1)
    torch.testing.assert_close(out, expected)


def test_channel_gate_view_is_scale_major():
    """Channel c of scale i must be gated by logits of channel c, scale i."""
    gate = build_gating(dict(type='ChannelDWScaleGate', kernel_size=1),
                        num_experts=3, channels=2)
    torch.nn.init.ones_(gate.conv.weight)
    torch.nn.init.zeros_(gate.conv.bias)
    x = torch.zeros(1, 6, 1, 1)
    x[0, 2 * 1 + 0] = 10.0  # scale 1, channel 0
    alpha = gate(x)[0, :, :, 0, 0]  # (S, C)
    assert alpha[1, 0] > 0.99  # scale 1 wins for channel 0 only
    torch.testing.assert_close(alpha[:, 1], torch.full((3, ), 1 / 3))


@pytest.mark.parametrize('detach', [True, False])
def test_stop_grad_cuts_gate_gradient_to_encoder(detach):
    dec = _decoder(detach_gate_input=detach)
    feats = [f.requires_grad_() for f in _feats()]
    dec({'a': feats, 'b': feats})
    # gradient of the gates alone (the gate regulariser's path)
    sum(a.pow(2).sum() for a in dec.last_alphas.values()).backward()
    assert dec.gates['a'].conv.weight.grad is not None
    reached = [f.grad is not None and f.grad.abs().sum() > 0 for f in feats]
    reached.append(dec.projections[0].weight.grad is not None)
    assert not any(reached) if detach else all(reached)


def test_features_still_train_the_encoder_when_gates_detached():
    dec = _decoder(detach_gate_input=True)
    feats = [f.requires_grad_() for f in _feats()]
    dec({'a': feats, 'b': feats})['a'].sum().backward()
    assert all(f.grad.abs().sum() > 0 for f in feats)


def test_checkpointing_gives_same_output_and_grads():
    torch.manual_seed(0)
    plain = _decoder()
    ckpt = _decoder(with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    results = []
    for dec in (plain, ckpt):
        feats = [f.requires_grad_() for f in _feats()]
        out = dec({'a': feats, 'b': feats})
        (out['a'].sum() + out['b'].pow(2).sum()).backward()
        results.append((out['a'].detach(), feats[0].grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


def test_bad_fusion_level():
    with pytest.raises(ValueError, match='fusion_level=5'):
        _decoder(fusion_level=5)


def test_gate_records_name_scale_and_task():
    dec = _decoder()
    feats = _feats()
    dec({'a': feats, 'b': feats})
    records = dec.records()
    assert set(records) == {'fused/a', 'fused/b'}
    assert records['fused/a'].kind == 'softmax'
    assert records['fused/a'].value is dec.last_alphas['a']


def test_aux_losses_before_any_forward_are_empty():
    dec = _decoder(gate_losses=[dict(type='GateSharpnessLoss')])
    assert dec.aux_losses() == {}


def test_gate_losses_and_their_gradients_match_the_plain_graph():
    """The fused node (regularisers recomputed in backward) gives the
    values and gradients of the regularisers applied to alpha directly."""
    losses = [dict(type='GateSharpnessLoss', loss_weight=0.5),
              dict(type='SpatialSmoothnessLoss', loss_weight=2.0)]
    torch.manual_seed(0)
    dec = _decoder(gate_losses=losses, detach_gate_input=False, refine=False)
    feats = [f.requires_grad_() for f in _feats()]
    out = dec({'a': feats, 'b': feats})
    aux = dec.aux_losses()
    assert set(aux) == {'loss_gate_sharpness', 'loss_spatial_smoothness'}
    sharp, smooth = dec.gate_losses
    alphas = list(dec.last_alphas.values())
    for name, loss in (('loss_gate_sharpness', sharp),
                       ('loss_spatial_smoothness', smooth)):
        torch.testing.assert_close(
            aux[name], torch.stack([loss(a) for a in alphas]).mean())
    total = out['a'].sum() + out['b'].pow(2).mean() + sum(aux.values())
    params = list(dec.gates.parameters()) + feats
    got = torch.autograd.grad(total, params)
    # the same graph with the plain product and regularisers
    b, s, c, h, w = 2, 3, 6, 16, 16
    stacked = dec.project(feats)
    want_total = 0
    for task in ('a', 'b'):
        alpha = dec.gates[task](stacked.view(b, s * c, h, w))
        fused = (alpha * stacked).sum(1)
        want_total = want_total + (fused.sum() if task == 'a'
                                   else fused.pow(2).mean())
        want_total = want_total + (sharp(alpha) + smooth(alpha)) / 2
    want = torch.autograd.grad(want_total, params)
    for g, h_ in zip(got, want):
        torch.testing.assert_close(g, h_, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('mode', ['bilinear', 'nearest'])
def test_upsample_mode(mode):
    dec = _decoder(upsample_mode=mode)
    feats = _feats()
    stacked = dec.project(feats)
    up = torch.nn.functional.interpolate(
        dec.projections[2](feats[2]), size=(16, 16), mode=mode,
        align_corners=False if mode == 'bilinear' else None)
    torch.testing.assert_close(stacked[:, 2], up)
    if mode == 'nearest':  # each coarse pixel copied to a 4x4 block
        assert (stacked[:, 2, :, :4, :4] == stacked[:, 2, :, :1, :1]).all()
    with pytest.raises(ValueError, match="upsample_mode must be"):
        _decoder(upsample_mode='bicubic')


def test_no_gate_losses_in_eval():
    dec = _decoder(gate_losses=[dict(type='GateSharpnessLoss')]).eval()
    feats = _feats()
    dec({'a': feats, 'b': feats})
    assert dec.aux_losses() == {}
