"""BNNeck head and its identity loss against hand computations."""
import math

import pytest
import torch

from featsel.registry import MODELS
from featsel.utils import ConfigError


def _head(**kwargs):
    head = MODELS.build(dict(type='BNNeckHead', in_channels=2,
                             num_classes=3, **kwargs))
    head.init_weights()
    return head


def test_label_smoothing_cross_entropy_matches_the_formula():
    loss = MODELS.build(dict(type='LabelSmoothingCrossEntropyLoss',
                             label_smoothing=0.3, loss_weight=2.0))
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    log_p = torch.log_softmax(logits, 1)[0]
    q = torch.tensor([0.7 + 0.1, 0.1, 0.1])  # (1 - eps) onehot + eps / K
    expected = 2.0 * -(q * log_p).sum()
    assert torch.isclose(loss(logits, torch.tensor([0])), expected)


def test_label_smoothing_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match='label_smoothing'):
        MODELS.build(dict(type='LabelSmoothingCrossEntropyLoss',
                          label_smoothing=1.0))


def test_neck_has_a_frozen_zero_shift_and_a_bias_free_classifier():
    head = _head()
    assert head.classifier.bias is None
    assert not head.bn.bias.requires_grad
    assert torch.equal(head.bn.bias, torch.zeros(2))
    assert torch.equal(head.bn.weight, torch.ones(2))
    assert head.classifier.weight.std() < 0.01  # N(0, 0.001)


def test_batch_hard_triplet_loss_by_hand():
    """Points on a line: anchors' hardest positive / negative by hand."""
    head = _head(loss_cls=dict(type='LabelSmoothingCrossEntropyLoss',
                               loss_weight=0.0))
    feats = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [5.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # anchor: (hardest positive, hardest negative) distances
    hard = [(1, 3), (1, 2), (2, 2), (2, 4)]
    expected = sum(max(0.0, 0.3 + p - n) for p, n in hard) / 4
    losses = head.loss(feats, labels)
    assert math.isclose(float(losses['loss_triplet']), expected, abs_tol=1e-5)
    assert float(losses['loss_id']) == 0.0


def test_identity_loss_acts_on_the_neck_feature():
    torch.manual_seed(0)
    head = _head(loss_triplet=None).train()
    feats = torch.randn(4, 2)
    labels = torch.tensor([0, 1, 2, 0])
    losses = head.loss(feats, labels)
    assert set(losses) == {'loss_id', 'acc'}
    mean, var = feats.mean(0), feats.var(0, unbiased=False)
    logits = head.classifier((feats - mean) / torch.sqrt(var + 1e-5))
    expected = torch.nn.functional.cross_entropy(logits, labels,
                                                 label_smoothing=0.1)
    assert torch.isclose(losses['loss_id'], expected, atol=1e-6)
    assert float(losses['acc']) == float(
        (logits.argmax(1) == labels).float().mean() * 100)


def test_one_identity_per_batch_is_a_config_error():
    with pytest.raises(ConfigError, match='one identity'):
        _head().loss(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))


def test_label_beyond_num_classes_is_a_config_error():
    with pytest.raises(ConfigError, match='model.num_classes is 3'):
        _head().loss(torch.randn(2, 2), torch.tensor([0, 3]))


def test_missing_num_classes_is_a_config_error():
    with pytest.raises(ConfigError, match='model.num_classes'):
        MODELS.build(dict(type='BNNeckHead', in_channels=2,
                          num_classes=None))
