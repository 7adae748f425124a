"""Utility distillation: soft labels against q_k = exp(-beta MSE_k) / sum,
and KL(q || p) against a hand-computed case and its gradient."""
import math

import numpy as np
import pytest
import torch

from featsel.models import build_loss
from featsel.models.losses import SoftLabelKLLoss, soft_utility_labels


def test_soft_labels_follow_the_formula():
    mse = np.array([[0.01, 0.02, 0.05], [0.03, 0.03, 0.001]])
    for beta in (20., 50., 80.):
        q = soft_utility_labels(mse, beta)
        assert q.dtype == torch.float64
        e = np.exp(-beta * mse)
        np.testing.assert_allclose(q.numpy(), e / e.sum(1, keepdims=True),
                                   rtol=1e-12)
    q = soft_utility_labels(mse, 50.)
    assert q[0].argmax() == 0 and q[1].argmax() == 2
    assert q[1, 0] == q[1, 1]                  # equal errors, equal labels


def test_larger_beta_sharpens_the_labels():
    mse = torch.tensor([[0.010, 0.012, 0.020]])
    entropy = [float(-(q * q.log()).sum())
               for q in (soft_utility_labels(mse, b) for b in (20, 50, 80))]
    assert entropy[0] > entropy[1] > entropy[2]


def test_soft_labels_do_not_underflow():
    """exp(-80 * 1000) is 0 in float64; the softmax form is not."""
    q = soft_utility_labels(
        torch.tensor([[1000., 1000.01]], dtype=torch.float64), 80.)
    assert torch.isfinite(q).all()
    expected = 1 / (1 + math.exp(-80 * 0.01))
    assert q[0, 0].item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize('mse,beta,match', [
    ([[0.1, -0.01]], 50., '>= 0'),
    ([[0.1, float('nan')]], 50., 'finite'),
    ([0.1, 0.2], 50., r'\(N, K\)'),
    ([[0.1, 0.2]], 0., 'beta'),
])
def test_bad_soft_label_input(mse, beta, match):
    with pytest.raises(ValueError, match=match):
        soft_utility_labels(mse, beta)


def test_kl_loss_hand_case():
    """p = (1/2, 1/4, 1/4); q = (1/2, 1/2, 0) gives
    KL = 1/2 log 1 + 1/2 log 2 + 0 = log(2) / 2; a second row with q = p
    adds 0; batchmean halves the sum; loss_weight 2 doubles it."""
    p = torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    logits = p.log() + 3.0   # a shift does not change the softmax
    q = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.25, 0.25]])
    loss = SoftLabelKLLoss(loss_weight=2.0)(logits, q)
    assert loss.item() == pytest.approx(2.0 * (math.log(2) / 2) / 2,
                                        rel=1e-6)
    assert SoftLabelKLLoss()(logits[1:], q[1:]).item() == pytest.approx(
        0, abs=1e-7)


def test_kl_gradient_is_p_minus_q_over_n():
    torch.manual_seed(0)
    logits = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    q = soft_utility_labels(torch.rand(5, 3) * 0.05, 50.).double()
    loss_fn = build_loss(dict(type='SoftLabelKLLoss', loss_weight=0.5))
    loss_fn(logits, q).backward()
    expected = 0.5 * (logits.detach().softmax(-1) - q) / 5
    torch.testing.assert_close(logits.grad, expected)


def test_kl_loss_shape_error():
    with pytest.raises(ValueError, match=r'\(N, K\)'):
        SoftLabelKLLoss()(torch.zeros(2, 3), torch.zeros(2, 4))
