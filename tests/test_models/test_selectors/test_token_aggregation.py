"""TokenAggregation: the shapes, the softmax masked in probability space
(forward, and gradients bounded where the additive 1e10 mask explodes),
and the decision's place in the paper and official implementations."""
import pytest
import torch

from featsel.models.layers.token_ops import masked_softmax
from featsel.models.selectors import TokenAggregation, TokenSparse
from featsel.utils import ConfigError

C = 16


def _aggregation(seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('embed_dims', C)
    return TokenAggregation(**kwargs)


def _tokens(b=2, n=64, seed=0):
    return torch.randn(b, n, C, generator=torch.Generator().manual_seed(seed))


def _logits(aggr, tokens):
    """``l = MLP(x)^T * a``, (B, N_c, N_s)."""
    return aggr.weight_net(tokens).transpose(1, 2) * aggr.scale


def _seed_aggregate(aggr, tokens, decision):
    """The seed's mask: ``softmax(l - (1 - D) * 1e10)``."""
    logits = _logits(aggr, tokens) - (1 - decision.unsqueeze(1)) * 1e10
    return torch.bmm(logits.softmax(-1), tokens)


@pytest.mark.parametrize('n, ratio, out', [(64, 0.4, 25), (20, 0.5, 10),
                                           (7, 0.4, 2)])
def test_shapes(n, ratio, out):
    aggr = _aggregation(num_tokens=n, aggr_ratio=ratio)
    y = aggr(_tokens(n=n), torch.ones(2, n))
    assert aggr.num_out == out and y.shape == (2, out, C)
    assert aggr.last_weights.shape == (2, out, n)
    # LayerNorm -> Linear(C, 0.2 C) -> GELU -> Linear(., N_c)
    assert aggr.weight_net[1].out_features == int(C * 0.2)
    assert aggr.weight_net[3].out_features == out


def test_all_kept_equals_the_plain_softmax():
    aggr = _aggregation()
    tokens = _tokens()
    y = aggr(tokens, torch.ones(2, 64))
    weights = _logits(aggr, tokens).softmax(-1)
    torch.testing.assert_close(aggr.last_weights, weights)
    torch.testing.assert_close(y, torch.bmm(weights, tokens))
    torch.testing.assert_close(aggr.last_weights.sum(-1),
                               torch.ones(2, 25))


def test_mask_restricts_the_softmax_to_the_kept_tokens():
    aggr = _aggregation(num_tokens=10, aggr_ratio=0.5)
    tokens = _tokens(n=10)
    decision = torch.tensor([[1.0] * 6 + [0.0] * 4,
                             [0.0, 1.0] * 5])
    aggr(tokens, decision)
    logits = _logits(aggr, tokens)
    for b in range(2):
        on = decision[b].bool()
        torch.testing.assert_close(aggr.last_weights[b][:, on],
                                   logits[b][:, on].softmax(-1))
        assert aggr.last_weights[b][:, ~on].max() < 1e-6
    # nothing kept: uniform weights, not NaN
    empty = masked_softmax(logits, torch.zeros(2, 1, 10))
    torch.testing.assert_close(empty, torch.full_like(empty, 0.1))


def test_probability_space_mask_keeps_the_decision_gradient_bounded():
    """Same forward as the seed's additive mask; the gradient to D is
    about 1 here and 1e10 times larger there."""
    aggr = _aggregation()
    tokens = _tokens()
    ours = torch.ones(2, 64, requires_grad=True)
    seed = torch.ones(2, 64, requires_grad=True)
    y_ours = aggr(tokens, ours)
    y_seed = _seed_aggregate(aggr, tokens, seed)
    torch.testing.assert_close(y_ours, y_seed)
    y_ours.pow(2).sum().backward()
    y_seed.pow(2).sum().backward()
    assert torch.isfinite(ours.grad).all()
    assert 0 < ours.grad.abs().max() < 10
    assert seed.grad.abs().max() >= 1e9


def test_probability_space_mask_keeps_the_score_gradient_bounded():
    """Through the seed's decision (Gumbel over N, straight-through) to
    the scores: finite and bounded with the probability-space mask, above
    1e9 with the additive one."""
    torch.manual_seed(0)
    sparse = TokenSparse(embed_dims=C, decision='gumbel', tau=0.5).train()
    aggr = _aggregation()
    g = torch.Generator().manual_seed(0)
    inputs = (_tokens(n=128), torch.randn(2, C, generator=g),
              [torch.randn(2, C, generator=g)])
    grads = {}
    for name in ('ours', 'seed'):
        torch.manual_seed(1)     # the same Gumbel draw for both
        out = sparse(*inputs)
        out.scores.retain_grad()
        y = (aggr(out.kept, out.kept_decision) if name == 'ours' else
             _seed_aggregate(aggr, out.kept, out.kept_decision))
        y.pow(2).sum().backward()
        grads[name] = out.scores.grad
    assert torch.isfinite(grads['ours']).all()
    assert grads['ours'].abs().max() < 10
    assert grads['seed'].abs().max() >= 1e9


def test_the_learned_scale_gets_a_gradient():
    aggr = _aggregation()
    aggr(_tokens(), torch.ones(2, 64)).pow(2).sum().backward()
    assert aggr.scale.grad.abs() > 0


def test_decision_is_required_by_paper_and_refused_by_official():
    with pytest.raises(ValueError, match='needs the decision'):
        _aggregation()(_tokens())
    with pytest.raises(ValueError, match='needs the decision'):
        _aggregation()(_tokens(), torch.ones(2, 63))
    official = _aggregation(impl='official')
    y = official(_tokens())
    torch.testing.assert_close(
        y, torch.bmm(_logits(official, _tokens()).softmax(-1), _tokens()))
    with pytest.raises(ValueError, match='takes no decision'):
        official(_tokens(), torch.ones(2, 64))


@pytest.mark.parametrize('kwargs, key', [
    (dict(impl='public'), 'impl'),
    (dict(aggr_ratio=0), 'aggr_ratio'),
    (dict(dim_ratio=1.5), 'dim_ratio'),
    (dict(num_tokens=2, aggr_ratio=0.4), 'num_tokens'),
    (dict(eps=0), 'eps'),
])
def test_bad_config_names_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        _aggregation(**kwargs)


def test_wrong_token_count_is_named():
    with pytest.raises(ValueError, match='num_tokens'):
        _aggregation()(_tokens(n=60), torch.ones(2, 60))
