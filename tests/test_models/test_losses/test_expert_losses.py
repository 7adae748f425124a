import pytest
import torch

from featsel.models.losses import ExpertOrthogonalityLoss
from featsel.registry import MODELS

K = 4


def _build(**kw):
    return MODELS.build(dict(type='ExpertOrthogonalityLoss', **kw))


def test_defaults_and_registry():
    loss = _build()
    assert isinstance(loss, ExpertOrthogonalityLoss)
    assert loss.loss_weight == 1e-3 and loss.loss_name == 'loss_expert_orth'


def test_identical_experts_give_the_maximum():
    torch.manual_seed(0)
    e = torch.randn(2, 1, 3, 4, 4)
    scales = torch.tensor([1.0, 2.0, 0.5, 3.0]).view(1, K, 1, 1, 1)
    same = e * scales  # same direction, different norms
    loss = _build(loss_weight=0.1)
    assert loss(same).item() == pytest.approx(K * (K - 1) * 0.1, rel=1e-5)
    # no other configuration gets higher
    assert loss(torch.randn(2, K, 3, 4, 4)).item() < K * (K - 1) * 0.1


def test_orthogonal_experts_give_zero():
    # expert k is non-zero only on channel k: disjoint supports
    outputs = torch.zeros(3, K, K, 5, 5)
    for k in range(K):
        outputs[:, k, k] = torch.rand(3, 5, 5) + 0.1
    assert _build(loss_weight=1.0)(outputs).item() == pytest.approx(
        0.0, abs=1e-7)


def test_sign_pair_count_and_per_sample_mean():
    e = torch.randn(1, 1, 2, 3, 3)
    pair = torch.cat([e, -e], dim=1)  # cos = -1, counted for both orders
    assert _build(loss_weight=1.0)(pair).item() == pytest.approx(-2.0)
    assert _build(loss_weight=1.0, absolute=True)(pair).item() == \
        pytest.approx(2.0)
    # sample 0 identical (2), sample 1 orthogonal (0): mean over B is 1
    batch = torch.zeros(2, 2, 2, 1, 1)
    batch[0, :, 0] = 1
    batch[1, 0, 0] = 1
    batch[1, 1, 1] = 1
    assert _build(loss_weight=1.0)(batch).item() == pytest.approx(1.0)


def test_zero_output_is_finite_and_gradients_flow():
    outputs = torch.randn(2, K, 3, 4, 4)
    outputs[:, 0] = 0
    outputs.requires_grad_()
    value = _build()(outputs)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(outputs.grad).all()
    assert outputs.grad[:, 1:].abs().sum() > 0


def test_bad_shape():
    with pytest.raises(ValueError, match=r'\(B, K, C, H, W\), got \(4,\)'):
        _build()(torch.randn(4))
