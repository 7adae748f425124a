"""Bootstrap intervals, the paired t-test, Cohen's d_z and the H-mean,
against scipy and hand-computed values."""
import math

import numpy as np
import pytest
from scipy import stats

from featsel.evaluation.statistics import (bootstrap_ci, cohens_dz,
                                           hmean_psnr_nlpips,
                                           macro_bootstrap_ci, paired_ttest)


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time():
    """Known case: samples of N(0, 1); the 95 % interval should contain the
    true mean 0 in about 95 % of repeated experiments (percentile intervals
    run a little narrow at n = 40)."""
    rng = np.random.default_rng(0)
    covered = 0
    trials = 200
    for trial in range(trials):
        ci = bootstrap_ci(rng.standard_normal(40), n_resamples=2000,
                          seed=trial)
        covered += ci.low <= 0 <= ci.high
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_ci_width_shrinks_like_one_over_sqrt_n():
    rng = np.random.default_rng(1)
    widths = {}
    for n in (25, 100, 400):
        ci = bootstrap_ci(rng.standard_normal(n), seed=0)
        assert ci.low < ci.mean < ci.high
        widths[n] = ci.high - ci.low
    # normal theory: 2 * 1.96 / sqrt(n)
    for n, width in widths.items():
        assert width == pytest.approx(3.92 / math.sqrt(n), rel=0.25)
    assert widths[25] > widths[100] > widths[400]


def test_bootstrap_ci_agrees_with_scipy_percentile_bootstrap():
    values = np.random.default_rng(2).gamma(2.0, size=200)
    ours = bootstrap_ci(values, n_resamples=10000, seed=0)
    ref = stats.bootstrap((values, ), np.mean, n_resamples=10000,
                          method='percentile', confidence_level=0.95,
                          random_state=np.random.default_rng(0))
    sd = values.std() / math.sqrt(values.size)
    assert ours.mean == pytest.approx(values.mean())
    # different random draws: the bounds agree to a few percent of the SE
    assert ours.low == pytest.approx(ref.confidence_interval.low,
                                     abs=0.05 * sd)
    assert ours.high == pytest.approx(ref.confidence_interval.high,
                                      abs=0.05 * sd)


def test_bootstrap_is_seeded():
    values = np.random.default_rng(0).random(10)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)


def test_macro_ci_is_the_mean_of_group_means_and_one_group_is_plain():
    rng = np.random.default_rng(3)
    small, large = rng.normal(20, 1, 10), rng.normal(30, 1, 90)
    macro = macro_bootstrap_ci([small, large], n_resamples=2000)
    assert macro.mean == pytest.approx((small.mean() + large.mean()) / 2)
    assert macro.low < macro.mean < macro.high
    assert macro_bootstrap_ci([small], seed=5) == bootstrap_ci(small, seed=5)


def test_paired_ttest_and_cohens_dz_on_a_hand_computed_case():
    a, b = [1., 2., 3., 4.], [2., 4., 5., 5.]
    # d = (1, 2, 2, 1): mean 1.5, sd sqrt(1/3), d_z = 1.5 sqrt(3)
    test = paired_ttest(a, b)
    assert test.mean_diff == pytest.approx(1.5)
    assert test.d_z == pytest.approx(1.5 * math.sqrt(3))
    assert test.t == pytest.approx(3 * math.sqrt(3))  # d_z * sqrt(4)
    assert test.df == 3 and test.n == 4
    ref = stats.ttest_rel(b, a)
    assert test.t == pytest.approx(ref.statistic, rel=1e-12)
    assert test.p == pytest.approx(ref.pvalue, rel=1e-10)


def test_paired_ttest_matches_scipy_on_random_scores():
    rng = np.random.default_rng(4)
    a = rng.normal(30, 2, 57)
    b = a + rng.normal(0.3, 0.5, 57)
    test = paired_ttest(a, b)
    ref = stats.ttest_rel(b, a)
    assert test.t == pytest.approx(ref.statistic, rel=1e-10)
    assert test.p == pytest.approx(ref.pvalue, rel=1e-8)
    d = b - a
    assert cohens_dz(a, b) == pytest.approx(d.mean() / d.std(ddof=1))
    assert test.d_z == pytest.approx(ref.statistic / math.sqrt(57))


def test_constant_differences():
    assert paired_ttest([1., 2.], [2., 3.]).t == math.inf
    assert paired_ttest([1., 2.], [2., 3.]).p == 0.0
    same = paired_ttest([1., 2.], [1., 2.])
    assert (same.t, same.p, same.d_z) == (0.0, 1.0, 0.0)


@pytest.mark.parametrize('a,b,match', [
    ([1., 2.], [1.], 'differ in length'),
    ([1.], [2.], 'at least two'),
    ([], [], 'empty'),
    ([1., float('nan')], [1., 2.], 'NaN'),
])
def test_bad_pairs(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_ttest(a, b)


@pytest.mark.parametrize('psnr,lpips,expected', [
    (25., 0.5, 0.5),           # a = b = 0.5
    (40., 0.2, 0.8),           # a = b = 0.8
    (30., 0.1, 2 * 0.6 * 0.9 / 1.5),
    (60., 0.0, 1.0),           # PSNR clipped to 1
    (30., 1.2, 0.0),           # 1 - LPIPS clipped to 0
    (0., 1.0, 0.0),            # both 0
])
def test_hmean_formula(psnr, lpips, expected):
    assert hmean_psnr_nlpips(psnr, lpips) == pytest.approx(expected)
