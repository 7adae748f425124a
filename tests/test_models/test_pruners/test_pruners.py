"""LearnableTokenPruner and SpatialPriorTokenPruner: the schedule, the
order-preserving top-K, the fills, the predictor's gradient, the auxiliary
loss and the spatial prior."""
import math

import pytest
import torch
import torch.nn.functional as F

from featsel.models import BasePruner, list_components
from featsel.models.pruners import (LearnableTokenPruner, PrunedTokens,
                                    SpatialPriorTokenPruner, keep_ratio_at)
from featsel.registry import MODELS, PRUNERS

C = 4


def _tokens(b=2, n=12, c=C, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, c, generator=g)


def _pruner(cls=LearnableTokenPruner, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('embed_dims', C)
    kwargs.setdefault('hidden_dims', 3)
    return cls(**kwargs)


def _score_by_channel0(pruner):
    """Make ``logit = GELU(x[..., 0])``: the score grows with channel 0
    wherever channel 0 is positive."""
    first, last = pruner.predictor[0], pruner.predictor[2]
    with torch.no_grad():
        for p in (first.weight, first.bias, last.weight, last.bias):
            p.zero_()
        first.weight[0, 0] = 1
        last.weight[0, 0] = 1


# ---------------------------------------------------------------------- #
# schedule
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('keep, warmup, table', [
    (0.7, 10, {0: 1.0, 5: 0.85, 10: 0.7, 20: 0.7}),
    (0.6, 10, {0: 1.0, 2.5: 0.9, 5: 0.8, 10: 0.6, 15: 0.6}),
    (0.5, 4, {-1: 1.0, 0: 1.0, 1: 0.875, 4: 0.5, 100: 0.5}),
    (0.7, 0, {0: 0.7, 5: 0.7}),
    (1.0, 10, {0: 1.0, 10: 1.0}),
])
def test_keep_ratio_schedule_table(keep, warmup, table):
    for epoch, ratio in table.items():
        assert keep_ratio_at(epoch, keep, warmup) == pytest.approx(ratio)


def test_set_progress_drives_the_persistent_buffer():
    pruner = _pruner(keep_ratio=0.7, warmup_epochs=10)
    # built fresh, it prunes at the target
    assert pruner.current_keep_ratio == pytest.approx(0.7)
    pruner.set_progress(5, iter=50)
    assert pruner.current_keep_ratio == pytest.approx(0.85)
    assert 'keep_ratio_now' in pruner.state_dict()
    fresh = _pruner(keep_ratio=0.7, warmup_epochs=10)
    fresh.load_state_dict(pruner.state_dict())
    assert fresh.current_keep_ratio == pytest.approx(0.85)
    pruner.set_progress(0, iter=0)
    assert pruner.current_keep_ratio == 1.0
    with pytest.warns(DeprecationWarning, match='set_epoch'):
        pruner.set_epoch(5)  # the old name still works
    assert pruner.current_keep_ratio == pytest.approx(0.85)


# ---------------------------------------------------------------------- #
# registry and arguments
# ---------------------------------------------------------------------- #
def test_pruners_are_registered():
    assert PRUNERS.get('LearnableTokenPruner') is LearnableTokenPruner
    names = list_components('pruner')
    assert 'LearnableTokenPruner' in names
    assert 'SpatialPriorTokenPruner' in names
    pruner = MODELS.build(dict(type='SpatialPriorTokenPruner', embed_dims=C,
                               hidden_dims=3, prior_size=(2, 3)))
    assert isinstance(pruner, BasePruner)
    assert pruner.prior.shape == (1, 1, 2, 3)


@pytest.mark.parametrize('kwargs, name', [
    (dict(keep_ratio=0.0), 'keep_ratio'),
    (dict(keep_ratio=1.2), 'keep_ratio'),
    (dict(warmup_epochs=-1), 'warmup_epochs'),
    (dict(fill='mean'), 'fill'),
    (dict(loss_weight=-1.0), 'loss_weight'),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _pruner(**kwargs)


def test_bad_shapes_fail_loudly():
    pruner = _pruner()
    with pytest.raises(ValueError, match='tokens'):
        pruner(torch.zeros(2, C))
    with pytest.raises(ValueError, match='pos'):
        pruner(_tokens(), torch.zeros(2, 5, C))


# ---------------------------------------------------------------------- #
# order-preserving top-K
# ---------------------------------------------------------------------- #
def test_gather_keeps_raster_order_and_gathers_pos_alike():
    pruner = _pruner(keep_ratio=0.5)
    tokens = _tokens(b=3, n=12)
    pos = torch.randn(1, 12, C)
    out = pruner(tokens, pos)
    assert isinstance(out, PrunedTokens)
    assert out.tokens.shape == (3, 6, C)
    assert out.pos.shape == (3, 6, C)
    assert out.index.shape == (3, 6) and out.index.dtype == torch.long
    assert out.scores.shape == (3, 12)
    assert ((out.scores > 0) & (out.scores < 1)).all()
    assert (out.index.diff(dim=1) > 0).all()
    for b in range(3):
        torch.testing.assert_close(out.tokens[b], tokens[b, out.index[b]])
        torch.testing.assert_close(out.pos[b], pos[0, out.index[b]])
        # the kept tokens are the best-scored ones
        kept = out.scores[b, out.index[b]]
        mask = torch.ones(12, dtype=torch.bool)
        mask[out.index[b]] = False
        assert kept.min() >= out.scores[b, mask].max()
    assert pruner(tokens).pos is None


def test_forced_scores_keep_exactly_the_top_k():
    pruner = _pruner(keep_ratio=0.4)
    _score_by_channel0(pruner)
    tokens = _tokens(b=2, n=10)
    g = torch.Generator().manual_seed(1)
    for b in range(2):
        tokens[b, :, 0] = torch.randperm(10, generator=g).float() + 1
    out = pruner(tokens)
    torch.testing.assert_close(
        out.scores, torch.sigmoid(F.gelu(tokens[..., 0])))
    for b in range(2):
        top = tokens[b, :, 0].topk(4).indices.sort().values
        assert out.index[b].tolist() == top.tolist()


def test_ratio_one_keeps_everything_in_order():
    pruner = _pruner(keep_ratio=0.5, warmup_epochs=10)
    pruner.set_progress(0, iter=0)
    tokens = _tokens(b=2, n=9)
    out = pruner(tokens)
    assert out.index.tolist() == [list(range(9))] * 2
    torch.testing.assert_close(out.tokens, tokens)


@pytest.mark.parametrize('n, ratio, k', [
    (1, 0.01, 1), (10, 0.04, 1), (10, 0.05, 1), (10, 0.25, 3),
    (400, 0.7, 280), (920, 0.6, 552), (7, 1.0, 7),
])
def test_number_kept_is_rounded_and_bounded(n, ratio, k):
    pruner = _pruner(keep_ratio=ratio)
    assert pruner.num_kept(n) == k
    assert pruner(_tokens(b=1, n=n)).tokens.shape == (1, k, C)


# ---------------------------------------------------------------------- #
# restore and fills
# ---------------------------------------------------------------------- #
def test_fill_keep_restores_the_input_and_places_processed_tokens():
    pruner = _pruner(keep_ratio=0.5, fill='keep')
    tokens = _tokens()
    out = pruner(tokens)
    torch.testing.assert_close(
        pruner.restore(out.tokens, tokens, out.index), tokens)
    restored = pruner.restore(out.tokens * 2 + 1, tokens, out.index)
    for b in range(2):
        torch.testing.assert_close(restored[b, out.index[b]],
                                   tokens[b, out.index[b]] * 2 + 1)
        mask = torch.ones(12, dtype=torch.bool)
        mask[out.index[b]] = False
        torch.testing.assert_close(restored[b, mask], tokens[b, mask])


def test_fill_zero_zeroes_pruned_positions():
    pruner = _pruner(keep_ratio=0.5, fill='zero')
    tokens = _tokens()
    out = pruner(tokens)
    restored = pruner.restore(out.tokens + 1, tokens, out.index)
    for b in range(2):
        torch.testing.assert_close(restored[b, out.index[b]],
                                   tokens[b, out.index[b]] + 1)
        mask = torch.ones(12, dtype=torch.bool)
        mask[out.index[b]] = False
        assert (restored[b, mask] == 0).all()


@pytest.mark.parametrize('fill', ['keep', 'zero'])
def test_restore_is_differentiable(fill):
    pruner = _pruner(keep_ratio=0.5, fill=fill)
    tokens = _tokens().requires_grad_()
    out = pruner(tokens)
    kept = out.tokens.detach().requires_grad_()
    pruner.restore(kept, tokens, out.index).sum().backward()
    assert (kept.grad == 1).all()
    if fill == 'keep':
        # pruned positions pass their gradient through, kept ones do not
        assert tokens.grad.sum() == 2 * 6 * C
    else:
        assert tokens.grad is None


# ---------------------------------------------------------------------- #
# the predictor's gradient
# ---------------------------------------------------------------------- #
def test_score_scaling_gives_the_predictor_the_task_gradient():
    pruner = _pruner(keep_ratio=0.5)
    tokens = _tokens()
    weight = torch.randn(C, generator=torch.Generator().manual_seed(3))
    out = pruner(tokens)
    out.scores.retain_grad()
    restored = pruner.restore(out.tokens, tokens, out.index)
    (restored * weight).sum().backward()
    grads = [p.grad for p in pruner.predictor.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    # d loss / d s = <x, w> at kept positions, 0 at pruned ones
    expected = torch.zeros(2, 12)
    expected.scatter_(1, out.index,
                      (tokens.gather(1, out.index.unsqueeze(-1).expand(
                          -1, -1, C)) * weight).sum(-1))
    torch.testing.assert_close(out.scores.grad, expected)


def test_plain_gather_gives_the_predictor_no_gradient():
    pruner = _pruner(keep_ratio=0.5)
    tokens = _tokens().requires_grad_()  # the features do get a gradient
    out = pruner(tokens)
    plain = tokens.gather(1, out.index.unsqueeze(-1).expand(-1, -1, C))
    torch.testing.assert_close(plain, out.tokens)  # same values
    restored = pruner.restore(plain, tokens, out.index)
    (restored * 2).sum().backward()
    assert tokens.grad is not None
    assert all(p.grad is None for p in pruner.predictor.parameters())


# ---------------------------------------------------------------------- #
# auxiliary loss
# ---------------------------------------------------------------------- #
def test_aux_loss_is_empty_before_a_forward():
    assert _pruner().aux_losses() == {}


def test_aux_loss_matches_the_formula_on_a_hand_case():
    pruner = _pruner(keep_ratio=0.75, loss_weight=0.1)
    _score_by_channel0(pruner)
    tokens = torch.tensor([[[4., 0.], [1., 5.], [3., 3.], [2., -2.]]])
    tokens = F.pad(tokens, (0, C - 2))
    out = pruner(tokens)
    assert out.index.tolist() == [[0, 2, 3]]
    scores = torch.sigmoid(F.gelu(tokens[0, :, 0]))
    sparsity = (scores.mean() - 0.75) ** 2
    # cos(0, 2) = cos(0, 3) = 1 / sqrt(2), cos(2, 3) = 0
    diversity = 2 * (2 / math.sqrt(2)) / (3 * 2)
    loss = pruner.aux_losses()['loss_prune']
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(0.1 * (sparsity.item() + diversity),
                                        rel=1e-5)


def test_aux_loss_with_one_kept_token_has_no_diversity():
    pruner = _pruner(keep_ratio=0.01, loss_weight=1.0)
    out = pruner(_tokens(b=1, n=4))
    expected = (out.scores.mean() - 0.01) ** 2
    torch.testing.assert_close(pruner.aux_losses()['loss_prune'], expected)


# ---------------------------------------------------------------------- #
# spatial prior
# ---------------------------------------------------------------------- #
def test_spatial_prior_starts_neutral_and_needs_the_grid():
    plain = _pruner(keep_ratio=0.5)
    prior = _pruner(SpatialPriorTokenPruner, keep_ratio=0.5,
                    prior_size=(3, 4))
    prior.load_state_dict(plain.state_dict(), strict=False)
    tokens = _tokens()
    a, b = plain(tokens), prior(tokens, hw=(3, 4))
    torch.testing.assert_close(a.scores, b.scores)
    assert a.index.tolist() == b.index.tolist()
    with pytest.raises(ValueError, match='hw'):
        prior(tokens)
    with pytest.raises(ValueError, match='hw'):
        prior(tokens, hw=(2, 4))
    with pytest.raises(ValueError, match='prior_size'):
        SpatialPriorTokenPruner(prior_size=(0, 3))


def test_spatial_prior_changes_which_tokens_are_kept():
    plain = _pruner(keep_ratio=0.5)
    prior = _pruner(SpatialPriorTokenPruner, keep_ratio=0.5,
                    prior_size=(2, 2))
    prior.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():  # favour the top row, resized to a 4x4 grid
        prior.prior.copy_(torch.tensor([[[[5., 5.], [-5., -5.]]]]))
    tokens = _tokens(b=2, n=16)
    out = prior(tokens, hw=(4, 4))
    assert out.index.tolist() == [list(range(8))] * 2
    assert plain(tokens).index.tolist() != out.index.tolist()
    # the prior is learnt from the task through the score scaling
    out.tokens.sum().backward()
    assert prior.prior.grad.abs().sum() > 0
