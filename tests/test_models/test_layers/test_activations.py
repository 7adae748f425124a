"""QuickGELU: the formula, and building it through mmcv and mmseg."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmengine.registry import DefaultScope

from featsel.models.layers import QuickGELU


def test_values_follow_the_formula():
    x = torch.tensor([-2.0, -0.5, 0.0, 1.0, 3.0])
    expected = [v / (1 + math.exp(-1.702 * v)) for v in x.tolist()]
    assert QuickGELU()(x).tolist() == pytest.approx(expected, rel=1e-6)


def test_close_to_but_not_equal_to_gelu():
    """The sigmoid approximation stays within 0.021 of the exact GELU and
    differs from it by more than float error (so it is not GELU)."""
    x = torch.linspace(-8, 8, 16001)
    gap = (QuickGELU()(x) - F.gelu(x)).abs().max().item()
    assert 0.01 < gap < 0.021


def test_gradient_flows():
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    QuickGELU()(x).sum().backward()
    s = torch.sigmoid(1.702 * x.detach())
    # d/dx x s(ax) = s(ax) + a x s(ax) (1 - s(ax))
    assert torch.allclose(x.grad, s + 1.702 * x.detach() * s * (1 - s))


@pytest.mark.parametrize('scope', ['featsel', 'mmseg', 'mmdet'])
def test_mmcv_builds_it_under_every_scope(scope):
    with DefaultScope.overwrite_default_scope(scope):
        act = build_activation_layer(dict(type='QuickGELU'))
    x = torch.randn(5)
    assert torch.allclose(act(x), QuickGELU()(x))


def test_mmseg_vit_uses_it_in_every_ffn():
    from featsel.registry import MODELS
    cfg = dict(type='mmseg.VisionTransformer', img_size=(32, 16), patch_size=8,
               embed_dims=16, num_layers=2, num_heads=2, mlp_ratio=2)
    with DefaultScope.overwrite_default_scope('featsel'):
        torch.manual_seed(0)
        quick = MODELS.build(dict(cfg, act_cfg=dict(type='QuickGELU')))
        torch.manual_seed(0)
        exact = MODELS.build(cfg)
    acts = [layer.ffn.layers[0][1] for layer in quick.layers]
    assert len(acts) == 2
    assert all(isinstance(a, QuickGELU) for a in acts)
    x = torch.randn(1, 3, 32, 16)
    assert not torch.allclose(quick(x)[0], exact(x)[0])
