"""The hybrid encoder, its blocks and the switchable plug-ins in it."""
import math

import pytest
import torch

from featsel.models.layers import MoEFFN
from featsel.models.detectors.rtdetr.positional_encoding import \
    sincos_2d_position_embedding
from featsel.models.detectors.rtdetr.rep_blocks import CSPRepLayer, RepVGGBlock


def _encoder(**kwargs):
    from featsel.models.detectors.rtdetr import HybridEncoder
    torch.manual_seed(0)
    cfg = dict(in_channels=[8, 16, 32], embed_dims=32,
               encoder_layer=dict(self_attn_cfg=dict(num_heads=4),
                                  ffn_cfg=dict(feedforward_channels=64)),
               num_blocks=1, expansion=0.5)
    cfg.update(kwargs)
    return HybridEncoder(**cfg)


def _feats(sizes=((18, 30), (9, 15), (5, 8)), channels=(8, 16, 32)):
    torch.manual_seed(1)
    return [torch.randn(2, c, h, w) for c, (h, w) in zip(channels, sizes)]


def test_sincos_positions_follow_formula():
    pos = sincos_2d_position_embedding(3, 5, 8, temperature=100.)
    assert pos.shape == (1, 15, 8)
    y, x = 2, 3
    omega = [100.**(-d / 2) for d in range(2)]
    expected = ([math.sin(x * o) for o in omega] +
                [math.cos(x * o) for o in omega] +
                [math.sin(y * o) for o in omega] +
                [math.cos(y * o) for o in omega])
    torch.testing.assert_close(pos[0, y * 5 + x],
                               torch.tensor(expected), atol=1e-6,
                               rtol=0)
    with pytest.raises(ValueError, match='multiple of 4'):
        sincos_2d_position_embedding(2, 2, 6)


def test_repvgg_fuse_matches_two_branches():
    torch.manual_seed(0)
    block = RepVGGBlock(6)
    for bn in (block.conv3x3.bn, block.conv1x1.bn):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    block.eval()
    x = torch.randn(2, 6, 7, 9)
    expected = block(x)
    block.fuse()
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_csp_rep_layer_shapes():
    layer = CSPRepLayer(16, 8, num_blocks=2, expansion=0.5)
    assert layer(torch.randn(1, 16, 5, 7)).shape == (1, 8, 5, 7)
    assert isinstance(CSPRepLayer(16, 8, expansion=1.0).conv3,
                      torch.nn.Identity)


def test_outputs_keep_odd_level_sizes():
    feats = _feats()
    outs = _encoder()(feats)
    assert [o.shape for o in outs] == [(2, 32, h, w) for h, w in
                                       ((18, 30), (9, 15), (5, 8))]


def test_bad_encoder_level_is_named():
    with pytest.raises(ValueError, match=r'encoder_levels \[3\]'):
        _encoder(encoder_levels=(3, ))


def test_pruned_positions_keep_their_input_and_predictor_learns():
    neck = _encoder(pruner=dict(type='LearnableTokenPruner',
                                hidden_dims=8, keep_ratio=0.5,
                                warmup_epochs=0))
    feat = torch.randn(2, 32, 4, 5)
    out = neck.encode_level(feat, neck.encoders[0])
    tokens_in = feat.flatten(2).transpose(1, 2)
    tokens_out = out.flatten(2).transpose(1, 2)
    kept = neck.pruner(tokens_in, None, hw=(4, 5)).index
    pruned = torch.ones(2, 20, dtype=torch.bool)
    pruned.scatter_(1, kept, False)
    assert kept.shape == (2, 10)
    torch.testing.assert_close(tokens_out[pruned], tokens_in[pruned])
    assert not torch.allclose(tokens_out[~pruned], tokens_in[~pruned])

    neck(_feats())[0].sum().backward()
    grad = neck.pruner.predictor[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_zero_fill_clears_pruned_positions():
    neck = _encoder(pruner=dict(type='LearnableTokenPruner',
                                hidden_dims=8, keep_ratio=0.25,
                                warmup_epochs=0, fill='zero'))
    out = neck.encode_level(torch.randn(1, 32, 4, 4), neck.encoders[0])
    assert (out.flatten(2).abs().sum(1) == 0).sum() == 12


def test_moe_cfg_replaces_every_encoder_ffn():
    neck = _encoder(num_encoder_layers=2,
                    moe_cfg=dict(type='MoEFFN', num_experts=3, top_k=2,
                                 expert=dict(type='FFNExpert',
                                             hidden_dims=16)))
    ffns = [layer.ffn for layer in neck.encoders[0]]
    assert len(ffns) == 2 and all(isinstance(f, MoEFFN) for f in ffns)
    assert ffns[0].embed_dims == 32
    neck(_feats())
    assert ffns[1].last_expert_load.sum().item() == pytest.approx(1.0)
