r"""Calibration of the MoE-I router: ECE, NLL, temperature scaling, the
abstention threshold, and the calibration JSON that inference reads.

With router logits ``z`` (N, K), the oracle expert ``y`` of each image and
``p = softmax(z / T)``:

* **ECE** (top-label, L1, ``M = 15`` equal-width bins): confidence
  ``c_n = max_k p_nk``, correctness ``a_n = [argmax_k p_nk = y_n]``; bin
  ``m`` holds the ``c_n`` in ``[(m - 1) / M, m / M)`` (the last bin is
  closed at 1) and
  ``ECE = sum_m (|B_m| / N) |mean_{B_m} a - mean_{B_m} c|``. This is
  torchmetrics' ``multiclass_calibration_error(..., n_bins=15,
  norm='l1')``, except that torchmetrics puts a confidence of exactly 1
  into a bin of its own.
* **NLL**: ``-(1 / N) sum_n log p_{n y_n}``.
* **Temperature** ``T``: minimises the NLL on the calibration split; a
  grid over ``log T`` finds the basin (the NLL is convex in ``1 / T`` but
  flat far out), and L-BFGS on ``log T`` (kept inside the grid) refines
  it. ``T > 1`` softens an over-confident router.
* **Threshold** ``tau``: the router abstains (the dense model restores
  the image) when ``max_k p_k < tau``. Candidates are 0 and every distinct
  calibrated confidence; ``tau`` maximises the accuracy on the kept images
  subject to ``abstention <= cap`` (default 10 %), the smallest such
  ``tau`` on ties.
"""
import json
import math
from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from featsel.utils import DataError, dump_json_atomic

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]

#: bins of the ECE (equal width over [0, 1])
ECE_BINS = 15
#: default cap on the abstention rate of the threshold search
MAX_ABSTENTION = 0.10


class CalibrationBins(NamedTuple):
    """Per-bin statistics of top-label confidences.

    Attributes:
        edges (np.ndarray): ``(M + 1,)`` bin edges ``linspace(0, 1, M + 1)``.
        confidence (np.ndarray): ``(M,)`` mean confidence per bin (0 where
            empty).
        accuracy (np.ndarray): ``(M,)`` share of correct top-1 predictions
            per bin (0 where empty).
        count (np.ndarray): ``(M,)`` images per bin.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray


class CoverageCurve(NamedTuple):
    """Abstention and kept accuracy for every candidate threshold.

    Attributes:
        tau (np.ndarray): ``(C,)`` increasing thresholds (the first is 0).
        abstention (np.ndarray): ``(C,)`` share of images with
            ``max p < tau``.
        kept_accuracy (np.ndarray): ``(C,)`` top-1 accuracy on the others.
    """

    tau: np.ndarray
    abstention: np.ndarray
    kept_accuracy: np.ndarray


class ThresholdSearch(NamedTuple):
    """The chosen threshold, its operating point and the whole curve."""

    tau: float
    abstention: float
    kept_accuracy: float
    curve: CoverageCurve


class Calibration(NamedTuple):
    """What inference needs and the report shows (the calibration JSON).

    Attributes:
        temperature (float): ``T > 0``.
        tau (float): Abstention threshold in [0, 1].
        max_abstention (float): The cap the search obeyed.
        abstention (float): Abstention rate at ``tau`` on the split.
        kept_accuracy (float): Router accuracy on the kept images.
        ece_before, ece_after (float): ECE at ``T = 1`` and at ``T``.
        nll_before, nll_after (float): NLL at ``T = 1`` and at ``T``.
        n_bins (int): ECE bins.
        split_sizes (dict[str, int]): Images per split (at least
            ``'calibration'``).
    """

    temperature: float
    tau: float
    max_abstention: float
    abstention: float
    kept_accuracy: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    n_bins: int
    split_sizes: Dict[str, int]


def _probs(probs: ArrayLike) -> np.ndarray:
    probs = np.asarray(probs.detach().cpu() if isinstance(
        probs, torch.Tensor) else probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f'probs must be (N, K) with K >= 2, got shape '
                         f'{probs.shape}')
    return probs


def _labels(labels: ArrayLike, n: int, k: int) -> np.ndarray:
    labels = np.asarray(labels.detach().cpu() if isinstance(
        labels, torch.Tensor) else labels)
    if labels.shape != (n, ) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f'labels must be ({n},) integers, got shape '
                         f'{labels.shape} of {labels.dtype}')
    if ((labels < 0) | (labels >= k)).any():
        raise ValueError(f'labels must lie in [0, {k})')
    return labels.astype(np.int64)


def _logits(logits: ArrayLike, labels: ArrayLike
            ) -> Tuple[torch.Tensor, torch.Tensor]:
    z = torch.as_tensor(np.asarray(logits.detach().cpu() if isinstance(
        logits, torch.Tensor) else logits, dtype=np.float64))
    if z.dim() != 2 or z.shape[1] < 2 or z.shape[0] < 1:
        raise ValueError(f'logits must be (N, K) with N >= 1, K >= 2, got '
                         f'{tuple(z.shape)}')
    y = torch.as_tensor(_labels(labels, z.shape[0], z.shape[1]))
    return z, y


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``m`` with ``edges[m] <= v < edges[m + 1]``,
    the last bin closed (values outside go to the nearest end bin)."""
    idx = np.searchsorted(edges, values, side='right') - 1
    return np.clip(idx, 0, len(edges) - 2)


def calibration_bins(probs: ArrayLike, labels: ArrayLike,
                     n_bins: int = ECE_BINS) -> CalibrationBins:
    """Top-label confidence and accuracy in ``n_bins`` equal-width bins.

    Args:
        probs (array): ``(N, K)`` probabilities.
        labels (array): ``(N,)`` true class (oracle expert) per row.
        n_bins (int): ``M``. Defaults to 15.

    Returns:
        CalibrationBins
    """
    probs = _probs(probs)
    labels = _labels(labels, *probs.shape)
    if n_bins < 1:
        raise ValueError(f'n_bins must be >= 1, got {n_bins}')
    conf = probs.max(1)
    correct = (probs.argmax(1) == labels).astype(np.float64)
    edges = np.linspace(0., 1., n_bins + 1)
    idx = bin_index(conf, edges)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    safe = np.maximum(count, 1)
    return CalibrationBins(
        edges, np.bincount(idx, conf, n_bins) / safe,
        np.bincount(idx, correct, n_bins) / safe, count)


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike,
                               n_bins: int = ECE_BINS) -> float:
    """Top-label L1 ECE, ``sum_m (|B_m| / N) |acc_m - conf_m|``.

    Args:
        probs (array): ``(N, K)`` probabilities.
        labels (array): ``(N,)`` true class per row.
        n_bins (int): Equal-width bins. Defaults to 15.

    Returns:
        float
    """
    bins = calibration_bins(probs, labels, n_bins)
    weight = bins.count / bins.count.sum()
    return float((weight * np.abs(bins.accuracy - bins.confidence)).sum())


def softmax_probs(logits: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """``softmax(z / T)`` in float64: ``(N, K) -> (N, K)``."""
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    z = torch.as_tensor(np.asarray(logits.detach().cpu() if isinstance(
        logits, torch.Tensor) else logits, dtype=np.float64))
    return (z / temperature).softmax(-1).numpy()


def negative_log_likelihood(logits: ArrayLike, labels: ArrayLike,
                            temperature: float = 1.0) -> float:
    """``-(1 / N) sum_n log softmax(z_n / T)_{y_n}`` (log-softmax, stable).

    Args:
        logits (array): ``(N, K)``.
        labels (array): ``(N,)``.
        temperature (float): ``T > 0``. Defaults to 1.

    Returns:
        float
    """
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    z, y = _logits(logits, labels)
    return float(F.cross_entropy(z / temperature, y))


def fit_temperature(logits: ArrayLike, labels: ArrayLike,
                    t_range: Tuple[float, float] = (1e-3, 20.0),
                    grid_size: int = 81) -> float:
    """Temperature that minimises the NLL: grid over ``log T``, then
    L-BFGS (strong Wolfe line search) on ``log T`` from the best grid
    point, clamped to ``t_range``.

    Args:
        logits (array): ``(N, K)`` router logits on the calibration split.
        labels (array): ``(N,)`` oracle expert per image.
        t_range (tuple[float, float]): Smallest and largest ``T``.
            Defaults to (1e-3, 20); a router distilled
            from nearly uniform soft labels needs T well below 0.05.
        grid_size (int): Grid points, log-spaced over ``t_range``.
            Defaults to 81.

    Returns:
        float: ``T``.
    """
    low, high = t_range
    if not 0 < low < high:
        raise ValueError(f't_range must satisfy 0 < low < high, got '
                         f'{t_range}')
    if grid_size < 2:
        raise ValueError(f'grid_size must be >= 2, got {grid_size}')
    z, y = _logits(logits, labels)
    lo, hi = math.log(low), math.log(high)

    def nll(log_t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(z / log_t.exp(), y)

    grid = torch.linspace(lo, hi, grid_size, dtype=torch.float64)
    values = torch.stack([nll(g) for g in grid])
    best = grid[int(values.argmin())]
    log_t = best.clone().requires_grad_(True)
    optim = torch.optim.LBFGS([log_t], lr=1.0, max_iter=50,
                              tolerance_grad=1e-10, tolerance_change=1e-12,
                              line_search_fn='strong_wolfe')

    def closure() -> torch.Tensor:
        optim.zero_grad()
        loss = nll(log_t)
        loss.backward()
        return loss

    optim.step(closure)
    with torch.no_grad():
        refined = log_t.detach().clamp(lo, hi)
        if not torch.isfinite(refined) or nll(refined) > values.min():
            refined = best
    return float(refined.exp())


def coverage_curve(probs: ArrayLike, labels: ArrayLike) -> CoverageCurve:
    """Abstention and kept accuracy for ``tau`` = 0 and every distinct
    confidence above the smallest (abstain when ``max p < tau``).

    Args:
        probs (array): ``(N, K)`` calibrated probabilities.
        labels (array): ``(N,)`` oracle expert per image.

    Returns:
        CoverageCurve
    """
    probs = _probs(probs)
    labels = _labels(labels, *probs.shape)
    if len(probs) == 0:
        raise ValueError('coverage_curve needs at least one image')
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    order = np.argsort(conf, kind='stable')
    conf_sorted = conf[order]
    correct_below = np.concatenate([[0], np.cumsum(correct[order])])
    tau = np.unique(conf)
    tau[0] = 0.
    abstained = np.searchsorted(conf_sorted, tau, side='left')
    n = len(conf)
    kept = n - abstained
    kept_correct = correct_below[-1] - correct_below[abstained]
    return CoverageCurve(tau, abstained / n, kept_correct / kept)


def search_threshold(probs: ArrayLike, labels: ArrayLike,
                     max_abstention: float = MAX_ABSTENTION
                     ) -> ThresholdSearch:
    """The ``tau`` with the best kept accuracy among those that abstain
    on at most ``max_abstention`` of the images (smallest on ties).

    Args:
        probs (array): ``(N, K)`` calibrated probabilities.
        labels (array): ``(N,)`` oracle expert per image.
        max_abstention (float): Cap in [0, 1]. Defaults to 0.1.

    Returns:
        ThresholdSearch
    """
    if not 0 <= max_abstention <= 1:
        raise ValueError(f'max_abstention must lie in [0, 1], got '
                         f'{max_abstention}')
    curve = coverage_curve(probs, labels)
    feasible = curve.abstention <= max_abstention + 1e-12
    score = np.where(feasible, curve.kept_accuracy, -np.inf)
    best = int(np.argmax(score))  # first maximum: the smallest tau
    return ThresholdSearch(float(curve.tau[best]),
                           float(curve.abstention[best]),
                           float(curve.kept_accuracy[best]), curve)


def calibrate(logits: ArrayLike, labels: ArrayLike,
              max_abstention: float = MAX_ABSTENTION,
              n_bins: int = ECE_BINS,
              split_sizes: Optional[Dict[str, int]] = None
              ) -> Tuple[Calibration, ThresholdSearch]:
    """Fit ``T``, then search ``tau`` on the calibrated probabilities.

    Args:
        logits (array): ``(N, K)`` router logits on the calibration split.
        labels (array): ``(N,)`` oracle expert per image.
        max_abstention (float): Cap of the threshold search. Defaults to
            0.1.
        n_bins (int): ECE bins. Defaults to 15.
        split_sizes (dict[str, int], optional): Images per split, stored
            in the record; ``'calibration'`` defaults to ``N``.

    Returns:
        tuple[Calibration, ThresholdSearch]: the record and the search
        (with its whole coverage curve).
    """
    z, y = _logits(logits, labels)
    temperature = fit_temperature(z, y)
    before, after = softmax_probs(z), softmax_probs(z, temperature)
    search = search_threshold(after, y, max_abstention)
    sizes = {'calibration': len(y), **(split_sizes or {})}
    record = Calibration(
        temperature=temperature, tau=search.tau,
        max_abstention=float(max_abstention), abstention=search.abstention,
        kept_accuracy=search.kept_accuracy,
        ece_before=expected_calibration_error(before, y, n_bins),
        ece_after=expected_calibration_error(after, y, n_bins),
        nll_before=negative_log_likelihood(z, y),
        nll_after=negative_log_likelihood(z, y, temperature),
        n_bins=n_bins, split_sizes={k: int(v) for k, v in sizes.items()})
    return record, search


def write_calibration(record: Calibration, path: str) -> None:
    """Write the calibration JSON (atomically)."""
    dump_json_atomic(record._asdict(), path)


# key -> (check, what it must be)
_CHECKS = {
    'temperature': (lambda v: v > 0, 'a number > 0'),
    'tau': (lambda v: 0 <= v <= 1, 'a number in [0, 1]'),
    'max_abstention': (lambda v: 0 <= v <= 1, 'a number in [0, 1]'),
    'abstention': (lambda v: 0 <= v <= 1, 'a number in [0, 1]'),
    'kept_accuracy': (lambda v: 0 <= v <= 1, 'a number in [0, 1]'),
    'ece_before': (lambda v: 0 <= v <= 1, 'a number in [0, 1]'),
    'ece_after': (lambda v: 0 <= v <= 1, 'a number in [0, 1]'),
    'nll_before': (lambda v: v >= 0, 'a number >= 0'),
    'nll_after': (lambda v: v >= 0, 'a number >= 0'),
    'n_bins': (lambda v: isinstance(v, int) and v >= 1, 'an int >= 1'),
}


def read_calibration(path: str) -> Calibration:
    """Read and check the calibration JSON.

    Raises:
        DataError: naming the file and the key that is missing, unknown
            or out of range, or the file when it is not a JSON object.
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except OSError as err:
        raise DataError(f'calibration file {path}: cannot read it '
                        f'({err.strerror})') from err
    except json.JSONDecodeError as err:
        raise DataError(f'calibration file {path}: not valid JSON '
                        f'({err})') from err
    if not isinstance(data, dict):
        raise DataError(f'calibration file {path}: expected a JSON object, '
                        f'got {type(data).__name__}')
    missing = [k for k in Calibration._fields if k not in data]
    unknown = sorted(set(data) - set(Calibration._fields))
    if missing or unknown:
        raise DataError(f'calibration file {path}: missing keys {missing}, '
                        f'unknown keys {unknown}')
    for key, (check, what) in _CHECKS.items():
        value = data[key]
        if isinstance(value, bool) or not isinstance(
                value, (int, float)) or not math.isfinite(value) or \
                not check(value):
            raise DataError(f'calibration file {path}: "{key}" must be '
                            f'{what}, got {value!r}')
    sizes = data['split_sizes']
    if not isinstance(sizes, dict) or 'calibration' not in sizes or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 0
            for v in sizes.values()):
        raise DataError(f'calibration file {path}: "split_sizes" must map '
                        'split names (at least "calibration") to image '
                        f'counts >= 0, got {sizes!r}')
    values = {k: float(data[k]) for k in _CHECKS if k != 'n_bins'}
    return Calibration(n_bins=data['n_bins'], split_sizes=dict(sizes),
                       **values)
