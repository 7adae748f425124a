import pytest
import torch

from featsel.models import build_gating, list_components
from featsel.models.gatings import (ConvGating, MLPGating, SoftmaxGating,
                                    TaskEmbeddingMLPGating)

K, C = 4, 6
TASKS = ['seg', 'sdf', 'bnd']


def _x(seed=0, b=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, C, 5, 7, generator=g)


def _assert_sums_to_one(alpha):
    torch.testing.assert_close(alpha.sum(1), torch.ones_like(alpha.sum(1)))
    assert (alpha >= 0).all()


def test_gates_are_registered_and_flagged():
    names = list_components('gating')
    for name in ('ConvGating', 'MLPGating', 'TaskEmbeddingMLPGating'):
        assert name in names
    assert SoftmaxGating.task_conditioned is False
    assert ConvGating.task_conditioned is False
    assert MLPGating.task_conditioned is False
    assert TaskEmbeddingMLPGating.task_conditioned is True


@pytest.mark.parametrize('cfg, shape', [
    (dict(type='ConvGating'), (3, K, 5, 7)),
    (dict(type='MLPGating', hidden_channels=8), (3, K, 1, 1)),
])
def test_plain_gates_shapes_and_sum(cfg, shape):
    torch.manual_seed(0)
    gate = build_gating(cfg, num_experts=K, channels=C)
    alpha = gate(_x())
    assert alpha.shape == shape
    _assert_sums_to_one(alpha)


def test_mlp_gating_is_per_image():
    """One weight per image: pixels' arrangement does not matter."""
    torch.manual_seed(0)
    gate = build_gating(dict(type='MLPGating'), num_experts=K, channels=C)
    x = _x()
    shuffled = x.flatten(2)[..., torch.randperm(35)].view_as(x)
    torch.testing.assert_close(gate(x), gate(shuffled))
    assert not torch.allclose(gate(x)[0], gate(x)[1])  # differs by image
    assert sum(p.numel() for p in gate.parameters()) == \
        C * 32 + 32 + 32 * K + K


def test_task_embedding_gating():
    torch.manual_seed(0)
    gate = build_gating(dict(type='TaskEmbeddingMLPGating', embed_dims=5),
                        num_experts=K, channels=C, tasks=TASKS)
    x = _x()
    alphas = {t: gate(x, t) for t in TASKS}
    for alpha in alphas.values():
        assert alpha.shape == (3, K, 1, 1)
        _assert_sums_to_one(alpha)
    # same input, same MLP: only the embedding tells the tasks apart
    assert not torch.allclose(alphas['seg'], alphas['sdf'], atol=1e-4)
    with torch.no_grad():
        gate.task_embed.weight[1] = gate.task_embed.weight[0]
    torch.testing.assert_close(gate(x, 'seg'), gate(x, 'sdf'))
    # one MLP shared by the tasks, one embedding per task
    assert gate.task_embed.weight.shape == (len(TASKS), 5)
    assert gate.mlp[0].in_features == C + 5


def test_task_embedding_gating_gradients_reach_own_embedding():
    torch.manual_seed(0)
    gate = TaskEmbeddingMLPGating(K, C, tasks=TASKS)
    gate(_x(), 'bnd')[:, 0].sum().backward()
    grad = gate.task_embed.weight.grad
    assert grad[2].abs().sum() > 0
    assert grad[:2].abs().sum() == 0


def test_task_embedding_gating_unknown_task():
    gate = TaskEmbeddingMLPGating(K, C, tasks=TASKS)
    with pytest.raises(KeyError, match='task "depth"; it was built for tasks '
                       'seg, sdf, bnd'):
        gate(_x(), 'depth')
    with pytest.raises(ValueError, match='non-empty list'):
        TaskEmbeddingMLPGating(K, C, tasks='seg')
