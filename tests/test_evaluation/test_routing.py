"""MoE-I routing modes on a toy with known best experts, forced
misrouting counts, top-2 weights and the summary numbers by hand."""
import numpy as np
import pytest

from featsel.evaluation.routing import (DENSE, binned_means,
                                        forced_misroute, group_mean,
                                        pareto_front, route_dense,
                                        route_moe_actual, route_oracle,
                                        routed_scores, routing_summary,
                                        top2_weights)

# six images, three experts; the best expert of each is known
UTILITIES = np.array([[30., 25., 24.],
                      [22., 28., 23.],
                      [21., 22., 27.],
                      [29., 26., 25.],
                      [24., 30., 26.],
                      [23., 24., 31.]])
BEST = np.array([0, 1, 2, 0, 1, 2])
DENSE_SCORES = np.array([27., 26., 25., 27., 27., 28.])
PROBS = np.array([[0.8, 0.1, 0.1],     # right, confident
                  [0.2, 0.7, 0.1],     # right
                  [0.5, 0.1, 0.4],     # wrong, confident enough
                  [0.4, 0.35, 0.25],   # right but below tau: dense
                  [0.1, 0.2, 0.7],     # wrong
                  [0.1, 0.1, 0.8]])    # right
TAU = 0.45


def test_modes_on_the_toy():
    assert route_oracle(UTILITIES).tolist() == BEST.tolist()
    assert route_dense(6).tolist() == [DENSE] * 6
    actual = route_moe_actual(PROBS, TAU)
    assert actual.tolist() == [0, 1, 0, DENSE, 2, 2]
    np.testing.assert_array_equal(routed_scores(actual, UTILITIES,
                                                DENSE_SCORES),
                                  [30., 28., 21., 27., 26., 31.])
    np.testing.assert_array_equal(
        routed_scores(route_dense(6), UTILITIES, DENSE_SCORES), DENSE_SCORES)
    np.testing.assert_array_equal(
        routed_scores(BEST, UTILITIES, DENSE_SCORES), UTILITIES.max(1))
    # tau = 0 never abstains; tau above every max p always does
    assert (route_moe_actual(PROBS, 0.) == PROBS.argmax(1)).all()
    assert (route_moe_actual(PROBS, 0.81) == DENSE).all()


def test_summary_by_hand():
    actual = route_moe_actual(PROBS, TAU)
    s = routing_summary(actual, UTILITIES, DENSE_SCORES, probs=PROBS)
    assert s.n == 6
    assert s.router_accuracy == pytest.approx(4 / 6)   # argmax vs oracle
    assert s.kept_accuracy == pytest.approx(3 / 5)     # 0, 1, 5 of 5 kept
    assert s.abstention_rate == pytest.approx(1 / 6)
    assert s.score == pytest.approx((30 + 28 + 21 + 27 + 26 + 31) / 6)
    assert s.oracle_score == pytest.approx((30 + 28 + 27 + 29 + 30 + 31) / 6)
    assert s.oracle_gap == pytest.approx(s.oracle_score - s.score)
    oracle = routing_summary(BEST, UTILITIES, DENSE_SCORES)
    assert oracle.oracle_gap == 0 and oracle.router_accuracy is None
    dense = routing_summary(route_dense(6), UTILITIES, DENSE_SCORES)
    assert dense.abstention_rate == 1 and dense.kept_accuracy is None
    # macro over tasks: groups (a, a, b, b, b, b)
    groups = np.array(['a', 'a', 'b', 'b', 'b', 'b'])
    macro = routing_summary(actual, UTILITIES, DENSE_SCORES, groups=groups)
    assert macro.score == pytest.approx(((30 + 28) / 2 +
                                         (21 + 27 + 26 + 31) / 4) / 2)


def test_group_mean():
    assert group_mean([1., 2., 6.]) == 3.
    assert group_mean([1., 3., 10.], ['x', 'x', 'y']) == 6.
    with pytest.raises(ValueError, match='groups'):
        group_mean([1., 2.], ['x'])


def test_top2_weights():
    w = top2_weights([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(w, [[0.625, 0.375, 0], [0, 2 / 3, 1 / 3],
                                   [0.5, 0.5, 0]])
    assert ((w > 0).sum(1) == 2).all()


@pytest.mark.parametrize('n,rate', [(200, 0.05), (200, 0.1), (200, 0.2),
                                    (25, 0.1), (7, 1.0), (50, 0.0)])
def test_forced_misroute_count_is_exact_and_never_the_true_expert(n, rate):
    true = np.random.default_rng(1).integers(0, 3, n)
    route = forced_misroute(true, 3, rate, seed=0)
    changed = route != true
    assert changed.sum() == round(rate * n)   # round(2.5) = 2 for n = 25
    assert ((route >= 0) & (route < 3)).all()
    # the same seed gives the same draw
    np.testing.assert_array_equal(route, forced_misroute(true, 3, rate, 0))


def test_forced_misroute_spreads_over_the_wrong_experts():
    true = np.zeros(400, int)
    route = forced_misroute(true, 3, 0.5, seed=0)
    moved = route[route != 0]
    assert len(moved) == 200 and set(moved.tolist()) == {1, 2}
    assert 70 < (moved == 1).sum() < 130
    other = forced_misroute(true, 3, 0.5, seed=1)
    assert (other != route).any()
    with pytest.raises(ValueError, match='rate'):
        forced_misroute(true, 3, 1.5, seed=0)
    with pytest.raises(ValueError, match='every image'):
        forced_misroute(np.array([0, DENSE]), 3, 0.5, seed=0)


def test_binned_means():
    values = np.array([1., 3., 2., 10., 20.])
    by = np.array([0.1, 0.2, 0.5, 0.9, 1.0])
    b = binned_means(values, by)
    assert b.count.tolist() == [2, 1, 2]
    np.testing.assert_allclose(b.mean, [2., 2., 15.])
    np.testing.assert_allclose(b.sem[[0, 2]], [np.sqrt(2) / np.sqrt(2),
                                               np.sqrt(50) / np.sqrt(2)])
    assert np.isnan(b.sem[1])
    with pytest.raises(ValueError, match='increasing'):
        binned_means(values, by, edges=(0, 0.5, 0.5, 1))


def test_pareto_front():
    costs = [1.0, 2.0, 2.0, 3.0, 0.5]
    quality = [30.0, 31.0, 30.5, 30.9, 29.0]
    # (2.0, 30.5) loses to (2.0, 31.0); (3.0, 30.9) to (2.0, 31.0)
    assert pareto_front(costs, quality) == (4, 0, 1)


def test_bad_route():
    with pytest.raises(ValueError, match='route entries'):
        routed_scores(np.array([0, 3, 0, 0, 0, 0]), UTILITIES, DENSE_SCORES)
    with pytest.raises(ValueError, match='integers'):
        routed_scores(np.zeros(6), UTILITIES, DENSE_SCORES)
    with pytest.raises(ValueError, match='dense'):
        routed_scores(BEST, UTILITIES, DENSE_SCORES[:5])
