"""TokenSparse: the score formula and its renormalisation, the kept count
and order, the fused extra token, the decisions (hard, Gumbel over N,
per-token Gumbel), gradients in the paper and official implementations,
the ratio loss, random selection and the records."""
import math

import pytest
import torch
import torch.nn.functional as F

from featsel.models.selectors import TokenSparse
from featsel.models.selectors.token_sparse import score_weights
from featsel.utils import ConfigError

C = 8


def _inputs(b=2, n=16, num_others=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    patches = torch.randn(b, n, C, generator=g)
    own = torch.randn(b, C, generator=g)
    others = [torch.randn(b, C, generator=g) for _ in range(num_others)]
    return patches, own, others


def _sparse(seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('embed_dims', C)
    return TokenSparse(**kwargs)


def _cos(patches, vector):
    """(B, N) cosine of every patch to a (B, C) vector."""
    return F.cosine_similarity(patches, vector[:, None], dim=-1)


# ---------------------------------------------------------------------- #
# scores
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('num_others', [0, 1, 2])
def test_renormalised_score_against_the_formula(num_others):
    """One, two and three modalities: the present terms keep the paper's
    ratios and are rescaled to sum to 1 + 2 beta."""
    beta = 0.25
    sparse = _sparse(beta=beta).eval()
    patches, own, others = _inputs(num_others=num_others)
    out = sparse(patches, own, others)
    s_p = sparse.predictor(patches).squeeze(-1).sigmoid()
    s_im = (_cos(patches, own) + 1) / 2
    s_m = [(_cos(patches, o) + 1) / 2 for o in others]
    if num_others == 2:   # the paper's formula as printed
        expected = (1 - 2 * beta) * s_p + beta * (s_m[0] + s_m[1] + 2 * s_im)
    elif num_others == 1:
        c = (1 + 2 * beta) / (1 + beta)
        expected = c * ((1 - 2 * beta) * s_p + beta * s_m[0] +
                        2 * beta * s_im)
    else:
        c = 1 + 2 * beta
        expected = c * ((1 - 2 * beta) * s_p + 2 * beta * s_im)
    torch.testing.assert_close(out.scores, expected)
    assert sum(w * n for w, n in zip(score_weights(beta, num_others),
                                     (1, 1, num_others))) == \
        pytest.approx(1 + 2 * beta)


def test_cosine_terms_are_rescaled_and_carry_no_gradient():
    sparse = _sparse().eval()
    patches, own, others = _inputs()
    patches.requires_grad_(True)
    own.requires_grad_(True)
    terms = sparse.score_terms(patches, own, torch.stack(others, 1))
    torch.testing.assert_close(terms.own, (_cos(patches, own) + 1) / 2)
    assert terms.own.min() >= 0 and terms.others.max() <= 1
    assert not terms.own.requires_grad and not terms.others.requires_grad
    assert terms.predicted.requires_grad


def test_official_scores_are_raw_cosines_without_predictor():
    sparse = _sparse(impl='official')
    assert sparse.predictor is None
    patches, own, others = _inputs()
    out = sparse(patches, own, others)
    expected = _cos(patches, own) + (_cos(patches, others[0]) +
                                     _cos(patches, others[1])) / 2
    torch.testing.assert_close(out.scores, expected)
    assert out.scores.min() < 0     # not rescaled to [0, 1]


# ---------------------------------------------------------------------- #
# kept tokens and the extra token
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('n, ratio, kept', [(128, 0.5, 64), (7, 0.5, 4),
                                            (10, 0.3, 3), (5, 0.01, 1),
                                            (6, 1.0, 6)])
def test_kept_count_is_ceil_of_n_rho(n, ratio, kept):
    sparse = _sparse(sparse_ratio=ratio).eval()
    out = sparse(*_inputs(n=n))
    assert sparse.num_kept(n) == kept
    assert out.kept.shape == (2, kept, C) and out.index.shape == (2, kept)
    assert out.decision.sum(1).tolist() == [kept, kept]


def test_kept_tokens_in_score_order_with_their_values():
    sparse = _sparse().eval()
    patches, own, others = _inputs(n=12)
    out = sparse(patches, own, others)
    kept_scores = out.scores.gather(1, out.index)
    assert (kept_scores[:, :-1] >= kept_scores[:, 1:]).all()
    # they are the best 6: every kept score beats every dropped one
    dropped = out.scores.masked_fill(out.decision.bool(), -math.inf)
    assert (kept_scores.min(1).values > dropped.max(1).values).all()
    for b in range(2):   # values unchanged by the straight-through scale
        torch.testing.assert_close(out.kept[b], patches[b, out.index[b]])


def test_extra_token_is_the_score_softmax_of_the_dropped_tokens():
    sparse = _sparse().eval()
    patches, own, others = _inputs(n=10)
    out = sparse(patches, own, others)
    for b in range(2):
        dropped = (out.decision[b] == 0).nonzero().squeeze(1)
        weights = out.scores[b, dropped].softmax(0)
        expected = (weights[:, None] * patches[b, dropped]).sum(0)
        torch.testing.assert_close(out.extra[b, 0], expected)


def test_nothing_dropped_gives_a_zero_extra_token():
    out = _sparse(sparse_ratio=1.0).eval()(*_inputs(n=6))
    assert out.extra.shape == (2, 1, C) and not out.extra.any()


# ---------------------------------------------------------------------- #
# gradients: paper and official
# ---------------------------------------------------------------------- #
def test_paper_kept_tokens_give_the_predictor_a_gradient():
    """Hard top-k alone gives the predictor nothing through the kept
    tokens; the value-preserving scale does."""
    sparse = _sparse(decision='hard').train()
    patches, own, others = _inputs()
    out = sparse(patches.requires_grad_(True), own, others)
    out.kept.pow(2).sum().backward()    # the kept tokens only
    grads = [p.grad for p in sparse.predictor.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_official_selects_without_any_gradient():
    sparse = _sparse(impl='official')
    patches, own, others = _inputs()
    patches.requires_grad_(True)
    out = sparse(patches, own, others)
    assert not out.kept.requires_grad and not out.extra.requires_grad
    assert not out.scores.requires_grad
    assert not list(sparse.parameters())


# ---------------------------------------------------------------------- #
# decisions
# ---------------------------------------------------------------------- #
def test_gumbel_straight_through_forward_is_the_hard_decision():
    sparse = _sparse(decision='gumbel', tau=0.5).train()
    torch.manual_seed(3)
    out = sparse(*_inputs(n=20))
    hard = torch.zeros(2, 20).scatter(1, out.index, 1.0)
    assert torch.equal(out.decision.detach(), hard)
    assert torch.equal(out.kept_decision.detach(), torch.ones(2, 10))
    assert out.decision.requires_grad          # the soft part's gradient
    # the kept set is a Gumbel top-k sample: it differs from the clean one
    clean = out.scores.detach().topk(10, 1).indices.sort(1).values
    assert not torch.equal(out.index.sort(1).values, clean)


@pytest.mark.parametrize('decision', ['gumbel', 'gumbel_token'])
def test_evaluation_is_the_deterministic_hard_top_k(decision):
    sparse = _sparse(decision=decision).eval()
    inputs = _inputs(n=20)
    first, second = sparse(*inputs), sparse(*inputs)
    assert torch.equal(first.index, second.index)
    assert torch.equal(first.index,
                       first.scores.argsort(1, descending=True)[:, :10])
    assert torch.equal(first.decision,
                       torch.zeros(2, 20).scatter(1, first.index, 1.0))
    assert not first.decision.requires_grad


def test_gumbel_token_keep_frequencies_follow_keep_probabilities():
    """beta = 0.5 and no other modality: s = 2 s^im, so the keep
    probability s / (1 + 2 beta) is s^im = (cos + 1) / 2, set per token by
    its angle to the global token."""
    probs = torch.tensor([0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 0.5])
    angle = torch.acos(2 * probs - 1)
    batch = 20000
    patches = torch.stack([angle.cos(), angle.sin()], -1).expand(
        batch, -1, -1).contiguous()
    own = torch.tensor([[1.0, 0.0]]).expand(batch, -1)
    sparse = _sparse(embed_dims=2, beta=0.5, decision='gumbel_token').train()
    torch.manual_seed(0)
    out = sparse(patches, own, [])
    frequency = out.decision.detach().mean(0)
    # 4 standard errors of a frequency of 0.5 over 20000 draws: 0.014
    torch.testing.assert_close(frequency, probs, atol=0.015, rtol=0)
    assert set(out.decision.detach().unique().tolist()) == {0.0, 1.0}
    # the kept slots are still the top half by score, masked by D
    assert torch.equal(out.kept_decision, out.decision.gather(1, out.index))


# ---------------------------------------------------------------------- #
# ratio loss
# ---------------------------------------------------------------------- #
def test_ratio_loss_acts_with_the_per_token_decision():
    sparse = _sparse(decision='gumbel_token', ratio_loss_weight=2.0).train()
    torch.manual_seed(0)
    out = sparse(*_inputs(n=32))
    loss = sparse.aux_losses()['loss_ratio']
    keep = out.decision.detach().mean(1)
    assert loss.item() == pytest.approx(
        2.0 * (keep - 0.5).pow(2).mean().item())
    loss.backward()
    assert sparse.predictor[0].weight.grad.abs().sum() > 0
    sparse.eval()
    sparse(*_inputs(n=32))
    assert sparse.aux_losses() == {}


def test_ratio_loss_is_not_computed_with_a_hard_decision():
    with pytest.warns(UserWarning, match='constant with no gradient'):
        sparse = _sparse(decision='hard', ratio_loss_weight=2.0).train()
    sparse(*_inputs())
    assert sparse.aux_losses() == {}
    assert _sparse(decision='hard').ratio_loss_weight == 0


def test_ratio_loss_has_no_gradient_with_the_softmax_over_n():
    """The soft part of D sums to one over the N tokens: mean keep is
    constant and the loss gives the predictor an exact zero."""
    with pytest.warns(UserWarning, match='no gradient'):
        sparse = _sparse(decision='gumbel', ratio_loss_weight=2.0).train()
    torch.manual_seed(0)
    sparse(*_inputs(n=32))
    loss = sparse.aux_losses()['loss_ratio']
    grads = torch.autograd.grad(loss, list(sparse.predictor.parameters()),
                                allow_unused=True)
    assert all(g is None or g.abs().max() < 1e-6 for g in grads)


# ---------------------------------------------------------------------- #
# random selection, records, configuration
# ---------------------------------------------------------------------- #
def test_random_selection_keeps_the_count_but_not_the_indices():
    sparse = _sparse().eval()
    inputs = _inputs(n=32)
    by_score = sparse(*inputs)
    sparse.selection = 'random'
    torch.manual_seed(0)
    first = sparse(*inputs)
    second = sparse(*inputs)
    assert first.index.shape == by_score.index.shape == (2, 16)
    assert first.decision.sum(1).tolist() == [16, 16]
    for b in range(2):
        assert len(set(first.index[b].tolist())) == 16
    assert not torch.equal(first.index.sort(1).values,
                           by_score.index.sort(1).values)
    assert not torch.equal(first.index, second.index)
    with pytest.raises(ConfigError, match='selection'):
        sparse.selection = 'best'


def test_records_and_the_score_gradient_norm():
    sparse = _sparse().train()
    inputs = _inputs()
    assert sparse.records() == {}
    norms = []
    for factor in (1.0, 3.0):
        out = sparse(*inputs)
        (factor * out.kept.pow(2).sum()).backward()
        records = sparse.records()
        norms.append(float(records['score_grad_norm'].value))
    assert norms[0] > 0 and norms[1] == pytest.approx(3 * norms[0])
    assert float(records['kept_ratio'].value) == pytest.approx(0.5)
    for term in ('', '_p', '_im', '_m'):
        assert f'score{term}_mean' in records
        assert f'score{term}_std' in records
    assert float(records['score_im_mean'].value) == pytest.approx(
        float(((_cos(inputs[0], inputs[1]) + 1) / 2).mean()), abs=1e-6)


@pytest.mark.parametrize('kwargs, key', [
    (dict(decision='topk'), 'decision'),
    (dict(impl='seps'), 'impl'),
    (dict(sparse_ratio=0), 'sparse_ratio'),
    (dict(beta=0.6), 'beta'),
    (dict(tau=0), 'tau'),
    (dict(impl='official', decision='gumbel'), 'decision'),
    (dict(impl='official', hidden_dims=4), 'hidden_dims'),
    (dict(decision='gumbel_token', ratio_loss_weight=-1),
     'ratio_loss_weight'),
])
def test_bad_config_names_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        _sparse(**kwargs)


def test_bad_input_shapes_are_named():
    sparse = _sparse()
    patches, own, others = _inputs()
    with pytest.raises(ValueError, match='embed_dims'):
        sparse(patches[..., :4], own, others)
    with pytest.raises(ValueError, match='other_globals'):
        sparse(patches, own, [others[0][:1]])
