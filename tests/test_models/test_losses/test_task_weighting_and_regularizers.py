import math

import pytest
import torch

from featsel.registry import MODELS


def _build(type_, **kw):
    return MODELS.build(dict(type=type_, **kw))


def test_uncertainty_weighting_matches_kendall_forms():
    loss = _build('UncertaintyWeightedLoss',
                  task_forms=dict(c='classification', r='regression'))
    with torch.no_grad():
        loss.log_vars['c'].fill_(math.log(4.0))  # sigma^2 = 4
        loss.log_vars['r'].fill_(math.log(4.0))
    out = loss(dict(c=torch.tensor(2.0), r=torch.tensor(2.0)))
    log_sigma = 0.5 * math.log(4.0)
    assert out['loss_c'].item() == pytest.approx(2.0 / 4 + log_sigma)
    assert out['loss_r'].item() == pytest.approx(2.0 / (2 * 4) + log_sigma)
    assert out['sigma_c'].item() == pytest.approx(2.0)


def test_uncertainty_weighting_optimum_is_sigma_squared_equals_loss():
    loss = _build('UncertaintyWeightedLoss',
                  task_forms=dict(c='classification'))
    opt = torch.optim.SGD(loss.parameters(), lr=0.1)
    for _ in range(500):
        opt.zero_grad()
        loss(dict(c=torch.tensor(3.0)))['loss_c'].backward()
        opt.step()
    # d/ds [exp(-s) L + s/2] = 0  =>  exp(s) = 2L
    assert math.exp(loss.log_vars['c'].item()) == pytest.approx(6.0, rel=1e-3)


def test_fixed_weights_and_unknown_task():
    loss = _build('FixedTaskWeights', task_forms=dict(a='regression',
                                                      b='regression'),
                  weights=dict(a=2.0))
    out = loss(dict(a=torch.tensor(1.5), b=torch.tensor(1.0)))
    assert out['loss_a'].item() == 3.0 and out['loss_b'].item() == 1.0
    with pytest.raises(ValueError, match=r'unknown tasks \[.z.\]'):
        _build('FixedTaskWeights', task_forms=dict(a='regression'),
               weights=dict(z=1.0))


def _one_hot(k=4, n=10):
    return torch.nn.functional.one_hot(torch.arange(n) % k, k).float().view(
        n, k, 1, 1)


def test_gate_sharpness_known_points():
    loss = _build('GateSharpnessLoss')
    assert loss(_one_hot()).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((3, 4, 2, 2), 0.25)
    assert loss(uniform).item() == pytest.approx(math.log(4))


def test_gate_balance_known_points():
    loss = _build('GateBalanceLoss', loss_weight=2.0)
    # every position one-hot, experts used evenly over the batch: balanced
    assert loss(_one_hot(n=8)).item() == pytest.approx(0.0, abs=1e-6)
    collapsed = torch.zeros(8, 4, 1, 1)
    collapsed[:, 0] = 1
    assert loss(collapsed).item() == pytest.approx(2.0 * math.log(4))


def test_scale_smoothness():
    loss = _build('ScaleSmoothnessLoss')
    flat = torch.full((2, 5, 3, 3), 0.2)
    assert loss(flat).item() == 0.0
    alpha = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert loss(alpha).item() == pytest.approx((1 + 0) / 2)


def test_spatial_smoothness_is_the_total_variation():
    loss = _build('SpatialSmoothnessLoss', loss_weight=3.0)
    constant = torch.rand(2, 4, 1, 1).softmax(1).expand(2, 4, 5, 6)
    assert loss(constant).item() == pytest.approx(0.0, abs=1e-7)
    assert loss(torch.rand(2, 4, 1, 1)).item() == 0.0  # per-image gates
    # a one-hot gate that switches expert between columns 2 and 3 of a 4x4
    # map: along W, |diff| = 1 for 2 of the K=2 experts in 1 of 3 column
    # pairs on every row -> mean 2 * 4 / (2 * 4 * 3) = 1/3; along H, 0
    alpha = torch.zeros(1, 2, 4, 4)
    alpha[:, 0, :, :2] = 1
    alpha[:, 1, :, 2:] = 1
    assert loss(alpha).item() == pytest.approx(3.0 / 3)
    # 5-d gates (B, K, C, H, W) differ over the last two dims only
    assert loss(alpha.unsqueeze(2).expand(1, 2, 3, 4, 4)).item() == \
        pytest.approx(1.0)
