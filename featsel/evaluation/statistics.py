"""Statistics of per-image scores: bootstrap confidence intervals, the
paired t-test, Cohen's d for paired samples, and the H-mean of PSNR and
LPIPS.

* **Bootstrap CI** (percentile method): draw ``n_resamples`` samples of the
  same size with replacement (seeded), take each one's mean, and report the
  ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of those
  means (``numpy.quantile``, linear interpolation). With several groups
  (tasks), each resample draws within every group and averages the group
  means (stratified bootstrap of the macro mean).
* **Paired t-test** of ``d_i = b_i - a_i``: ``t = mean(d) / (sd(d) /
  sqrt(n))``, ``sd`` with ``ddof = 1``, two-sided ``p`` from Student's t
  with ``n - 1`` degrees of freedom (scipy's ``ttest_rel``).
* **Cohen's d for paired samples** is ``d_z = mean(d) / sd(d)`` (``ddof =
  1``): the mean difference in units of the spread of the differences, so
  ``t = d_z sqrt(n)``. It is not the ``d_av`` that divides by the average
  spread of the two runs' scores.
* **H-mean of PSNR and -LPIPS**: both mapped to [0, 1] where higher is
  better, ``a = clip(PSNR / psnr_scale, 0, 1)`` with ``psnr_scale = 50`` dB
  and ``b = clip(1 - LPIPS, 0, 1)``, then ``H = 2ab / (a + b)`` (0 when
  both are 0).
"""
from typing import NamedTuple, Optional, Sequence

import numpy as np
from scipy import stats

#: PSNR that maps to 1 in the H-mean (dB)
HMEAN_PSNR_SCALE = 50.0
# bootstrap resamples drawn at once (bounds memory at n_images * chunk)
_CHUNK = 1000


class ConfidenceInterval(NamedTuple):
    """A mean and its confidence interval."""

    mean: float
    low: float
    high: float


class PairedTest(NamedTuple):
    """A paired comparison of ``b`` against ``a`` (differences ``b - a``).

    Attributes:
        n (int): Number of pairs.
        mean_diff (float): ``mean(b - a)``.
        t (float): t statistic.
        p (float): Two-sided p-value.
        df (int): Degrees of freedom ``n - 1``.
        d_z (float): Cohen's d for paired samples, ``mean / sd``.
    """

    n: int
    mean_diff: float
    t: float
    p: float
    df: int
    d_z: float


def _values(values: Sequence[float], name: str = 'values') -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f'{name} is empty')
    if not np.isfinite(array).all():
        raise ValueError(f'{name} holds NaN or infinite values')
    return array


def bootstrap_means(values: Sequence[float], n_resamples: int = 10000,
                    rng: Optional[np.random.Generator] = None
                    ) -> np.ndarray:
    """Means of ``n_resamples`` resamples (with replacement) of ``values``.

    Args:
        values (Sequence[float]): ``(n,)`` scores.
        n_resamples (int): Number of resamples.
        rng (np.random.Generator, optional): Source of the draws; a fresh
            ``default_rng(0)`` when None.

    Returns:
        np.ndarray: ``(n_resamples,)`` resample means.
    """
    array = _values(values)
    rng = np.random.default_rng(0) if rng is None else rng
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, _CHUNK):
        stop = min(start + _CHUNK, n_resamples)
        index = rng.integers(0, array.size, size=(stop - start, array.size))
        means[start:stop] = array[index].mean(1)
    return means


def _interval(mean: float, means: np.ndarray,
              confidence: float) -> ConfidenceInterval:
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    low, high = np.quantile(means, [(1 - confidence) / 2,
                                    (1 + confidence) / 2])
    return ConfidenceInterval(float(mean), float(low), float(high))


def bootstrap_ci(values: Sequence[float], n_resamples: int = 10000,
                 confidence: float = 0.95,
                 seed: int = 0) -> ConfidenceInterval:
    """Percentile bootstrap confidence interval of the mean.

    Args:
        values (Sequence[float]): ``(n,)`` scores.
        n_resamples (int): Number of resamples. Defaults to 10000.
        confidence (float): Coverage. Defaults to 0.95.
        seed (int): Seed of the draws. Defaults to 0.

    Returns:
        ConfidenceInterval: ``(mean, low, high)``.
    """
    array = _values(values)
    means = bootstrap_means(array, n_resamples, np.random.default_rng(seed))
    return _interval(array.mean(), means, confidence)


def macro_bootstrap_ci(groups: Sequence[Sequence[float]],
                       n_resamples: int = 10000, confidence: float = 0.95,
                       seed: int = 0) -> ConfidenceInterval:
    """Percentile bootstrap interval of the macro mean (mean of the group
    means), resampling within each group. One group gives
    :func:`bootstrap_ci`.

    Args:
        groups (Sequence[Sequence[float]]): Scores of each group (task).
        n_resamples (int): Number of resamples. Defaults to 10000.
        confidence (float): Coverage. Defaults to 0.95.
        seed (int): Seed of the draws. Defaults to 0.

    Returns:
        ConfidenceInterval: ``(macro mean, low, high)``.
    """
    if not groups:
        raise ValueError('macro_bootstrap_ci needs at least one group')
    rng = np.random.default_rng(seed)
    arrays = [_values(g, f'group {i}') for i, g in enumerate(groups)]
    means = np.mean([bootstrap_means(a, n_resamples, rng) for a in arrays],
                    axis=0)
    return _interval(np.mean([a.mean() for a in arrays]), means, confidence)


def _differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    a, b = _values(a, 'a'), _values(b, 'b')
    if a.shape != b.shape:
        raise ValueError(f'paired samples differ in length: {a.size} and '
                         f'{b.size}')
    return b - a


def cohens_dz(a: Sequence[float], b: Sequence[float]) -> float:
    """Cohen's d for paired samples, ``d_z = mean(b - a) / sd(b - a)``
    (``ddof = 1``); ``+-inf`` when the differences are equal and not zero,
    0 when all are zero.

    Args:
        a, b (Sequence[float]): ``(n,)`` paired scores, ``n >= 2``.
    """
    diff = _differences(a, b)
    if diff.size < 2:
        raise ValueError('Cohen\'s d needs at least two pairs')
    mean, sd = diff.mean(), diff.std(ddof=1)
    if sd == 0:
        return 0.0 if mean == 0 else float(np.sign(mean) * np.inf)
    return float(mean / sd)


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Two-sided paired t-test of ``b`` against ``a``, with ``d_z``.

    Equal differences give ``t = +-inf, p = 0`` (or ``t = 0, p = 1`` when
    they are all zero).

    Args:
        a, b (Sequence[float]): ``(n,)`` paired scores, ``n >= 2``.

    Returns:
        PairedTest: ``(n, mean_diff, t, p, df, d_z)``.
    """
    diff = _differences(a, b)
    n = diff.size
    d_z = cohens_dz(a, b)
    t = d_z * np.sqrt(n)
    p = 1.0 if t == 0 else float(2 * stats.t.sf(abs(t), n - 1))
    return PairedTest(n, float(diff.mean()), float(t), p, n - 1, d_z)


def hmean_psnr_nlpips(psnr: float, lpips: float,
                      psnr_scale: float = HMEAN_PSNR_SCALE) -> float:
    """Harmonic mean of PSNR and -LPIPS on a common [0, 1] scale,
    ``2ab / (a + b)``, ``a = clip(PSNR / psnr_scale, 0, 1)``, ``b =
    clip(1 - LPIPS, 0, 1)``.

    Args:
        psnr (float): PSNR in dB.
        lpips (float): LPIPS distance (lower is better).
        psnr_scale (float): PSNR that maps to 1. Defaults to 50 dB.
    """
    a = float(np.clip(psnr / psnr_scale, 0, 1))
    b = float(np.clip(1 - lpips, 0, 1))
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)
