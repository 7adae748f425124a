r"""Per-image routing decisions of MoE-I and the numbers that judge them.

Pure functions over arrays (no model runs here). A *route* is an ``(N,)``
int array: ``k in [0, K)`` sends the image to expert ``k``, :data:`DENSE`
(-1) to the dense-unified model. ``utilities`` ``(N, K)`` holds the score
of every expert on every image (PSNR, higher is better) and ``dense``
``(N,)`` the dense model's.

Modes of the comparison table (SPEC S3, seed 002 §4-§5):

* ``dense`` -- every image to the dense model (:func:`route_dense`);
* ``moe_actual`` -- ``argmax_k p_k`` unless ``max_k p_k < tau``, then the
  dense model (:func:`route_moe_actual`);
* ``moe_oracle`` -- the best expert of each image,
  ``k* = argmax_k utility_k`` (:func:`route_oracle`);
* ``top2`` -- the two most probable experts blended with weights
  ``p_k / (p_(1) + p_(2))`` (:func:`top2_weights`; the blend of the two
  restored images is scored, so there is no route);
* ``forced_misroute`` -- exactly ``round(rate * N)`` images, drawn with a
  seed, sent to an expert other than their true one
  (:func:`forced_misroute`).

Summary (:func:`routing_summary`): router accuracy against the oracle,
abstention rate, score of the routing and of the oracle, and the oracle
gap ``score(oracle) - score(route)`` (dB for PSNR), each a plain mean over
images or, with ``groups`` (task per image), the macro mean over groups.
"""
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from .calibration import bin_index

ArrayLike = Union[np.ndarray, Sequence]

#: route of an image restored by the dense-unified model
DENSE = -1


def _matrix(values: ArrayLike, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(f'{name} must be (N, K) with K >= 2, got shape '
                         f'{values.shape}')
    return values


def _route(route: ArrayLike, n: int, k: int) -> np.ndarray:
    route = np.asarray(route)
    if route.shape != (n, ) or not np.issubdtype(route.dtype, np.integer):
        raise ValueError(f'route must be ({n},) integers, got shape '
                         f'{route.shape} of {route.dtype}')
    if ((route < DENSE) | (route >= k)).any():
        raise ValueError(f'route entries must be {DENSE} (dense) or an '
                         f'expert in [0, {k})')
    return route.astype(np.int64)


def route_dense(n: int) -> np.ndarray:
    """Every one of ``n`` images to the dense model: ``(n,)`` of
    :data:`DENSE`."""
    return np.full(n, DENSE, np.int64)


def route_moe_actual(probs: ArrayLike, tau: float) -> np.ndarray:
    """``argmax_k p_k``, or :data:`DENSE` where ``max_k p_k < tau``.

    Args:
        probs (array): ``(N, K)`` calibrated router probabilities.
        tau (float): Abstention threshold.

    Returns:
        np.ndarray: ``(N,)`` route.
    """
    probs = _matrix(probs, 'probs')
    return np.where(probs.max(1) < tau, DENSE, probs.argmax(1))


def route_oracle(utilities: ArrayLike) -> np.ndarray:
    """The best expert of each image, ``argmax_k utility_k`` (the first on
    ties): ``(N, K) -> (N,)``."""
    return _matrix(utilities, 'utilities').argmax(1)


def top2_weights(probs: ArrayLike) -> np.ndarray:
    """Blend weights of the two most probable experts.

    ``w_k = p_k / (p_(1) + p_(2))`` for the two largest ``p_k`` of a row,
    0 for the others (the first index wins ties).

    Args:
        probs (array): ``(N, K)`` router probabilities.

    Returns:
        np.ndarray: ``(N, K)``, rows sum to one, two non-zeros per row.
    """
    probs = _matrix(probs, 'probs')
    top = np.argsort(-probs, axis=1, kind='stable')[:, :2]
    rows = np.arange(len(probs))[:, None]
    weights = np.zeros_like(probs)
    weights[rows, top] = probs[rows, top]
    total = weights.sum(1, keepdims=True)
    if (total <= 0).any():
        raise ValueError('probs: the two largest entries of a row sum to 0')
    return weights / total


def forced_misroute(true_expert: ArrayLike, num_experts: int, rate: float,
                    seed: int) -> np.ndarray:
    """Send exactly ``round(rate * N)`` images to a wrong expert.

    The images are drawn without replacement and each gets an expert drawn
    uniformly from the ``K - 1`` others, both from
    ``numpy.random.default_rng(seed)``; every other image keeps its true
    expert. Python's ``round`` (half to even) gives the count.

    Args:
        true_expert (array): ``(N,)`` expert of each image (the oracle
            ``k*`` or the task's expert).
        num_experts (int): ``K >= 2``.
        rate (float): Share of misrouted images, in [0, 1].
        seed (int): Seed of the draws.

    Returns:
        np.ndarray: ``(N,)`` route.
    """
    if num_experts < 2:
        raise ValueError(f'num_experts must be >= 2, got {num_experts}')
    if not 0 <= rate <= 1:
        raise ValueError(f'rate must lie in [0, 1], got {rate}')
    true_expert = np.asarray(true_expert)
    route = _route(true_expert, len(true_expert), num_experts)
    if (route == DENSE).any():
        raise ValueError('true_expert must name an expert for every image')
    rng = np.random.default_rng(seed)
    count = round(rate * len(route))
    chosen = rng.choice(len(route), size=count, replace=False)
    # shift by 1..K-1 (mod K): uniform over the other experts, never k itself
    shift = rng.integers(1, num_experts, size=count)
    route = route.copy()
    route[chosen] = (route[chosen] + shift) % num_experts
    return route


def routed_scores(route: ArrayLike, utilities: ArrayLike,
                  dense: ArrayLike) -> np.ndarray:
    """Score of each image under a route: ``utilities[n, route_n]``, or
    ``dense[n]`` where the route is :data:`DENSE`.

    Args:
        route (array): ``(N,)``.
        utilities (array): ``(N, K)``.
        dense (array): ``(N,)``.

    Returns:
        np.ndarray: ``(N,)``.
    """
    utilities = _matrix(utilities, 'utilities')
    n, k = utilities.shape
    route = _route(route, n, k)
    dense = np.asarray(dense, dtype=np.float64)
    if dense.shape != (n, ):
        raise ValueError(f'dense must be ({n},), got shape {dense.shape}')
    picked = utilities[np.arange(n), np.maximum(route, 0)]
    return np.where(route == DENSE, dense, picked)


def group_mean(values: ArrayLike,
               groups: Optional[ArrayLike] = None) -> float:
    """Mean of ``values``; with ``groups`` the macro mean (the mean over
    groups of each group's mean)."""
    values = np.asarray(values, dtype=np.float64)
    if groups is None:
        return float(values.mean())
    groups = np.asarray(groups)
    if groups.shape != values.shape:
        raise ValueError(f'groups must have the shape {values.shape} of the '
                         f'values, got {groups.shape}')
    return float(np.mean([values[groups == g].mean()
                          for g in np.unique(groups)]))


class RoutingSummary(NamedTuple):
    """How a route compares with the oracle.

    Attributes:
        n (int): Images.
        router_accuracy (float | None): Share of images whose most probable
            expert is the oracle expert (``None`` without ``probs``).
        kept_accuracy (float | None): Share of the routed (not abstained)
            images sent to the oracle expert (``None`` if none was).
        abstention_rate (float): Share routed to :data:`DENSE`.
        score (float): Mean (or macro) score of the route.
        oracle_score (float): The same for the oracle route.
        oracle_gap (float): ``oracle_score - score``.
    """

    n: int
    router_accuracy: Optional[float]
    kept_accuracy: Optional[float]
    abstention_rate: float
    score: float
    oracle_score: float
    oracle_gap: float


def routing_summary(route: ArrayLike, utilities: ArrayLike,
                    dense: ArrayLike, probs: Optional[ArrayLike] = None,
                    groups: Optional[ArrayLike] = None) -> RoutingSummary:
    """Router accuracy, abstention and the oracle gap of one route.

    Args:
        route (array): ``(N,)`` the route to judge.
        utilities (array): ``(N, K)`` score of every expert per image.
        dense (array): ``(N,)`` score of the dense model per image.
        probs (array, optional): ``(N, K)`` router probabilities, for the
            router accuracy.
        groups (array, optional): ``(N,)`` task per image: scores become
            macro means over tasks.

    Returns:
        RoutingSummary
    """
    utilities = _matrix(utilities, 'utilities')
    n, k = utilities.shape
    route = _route(route, n, k)
    oracle = route_oracle(utilities)
    score = group_mean(routed_scores(route, utilities, dense), groups)
    oracle_score = group_mean(utilities[np.arange(n), oracle], groups)
    router_accuracy = None
    if probs is not None:
        probs = _matrix(probs, 'probs')
        if probs.shape != utilities.shape:
            raise ValueError(f'probs must be {utilities.shape}, got '
                             f'{probs.shape}')
        router_accuracy = float((probs.argmax(1) == oracle).mean())
    kept = route != DENSE
    return RoutingSummary(
        n=n, router_accuracy=router_accuracy,
        kept_accuracy=float((route[kept] == oracle[kept]).mean())
        if kept.any() else None,
        abstention_rate=float((~kept).mean()), score=score,
        oracle_score=oracle_score, oracle_gap=oracle_score - score)


class BinnedMeans(NamedTuple):
    """Means of a value in bins of another (e.g. gain per severity bin).

    Attributes:
        edges (np.ndarray): ``(M + 1,)``.
        mean (np.ndarray): ``(M,)`` (NaN where a bin is empty).
        sem (np.ndarray): ``(M,)`` standard error ``std / sqrt(n)``
            (``ddof = 1``; NaN below two values).
        count (np.ndarray): ``(M,)`` values per bin.
    """

    edges: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    count: np.ndarray


def binned_means(values: ArrayLike, by: ArrayLike,
                 edges: Sequence[float] = (0., 1 / 3, 2 / 3, 1.)
                 ) -> BinnedMeans:
    """Mean and standard error of ``values`` in bins of ``by``
    (``[e_m, e_(m+1))``, the last bin closed), e.g. the gain of MoE-I over
    the dense model in low / mid / high severity bins.

    Args:
        values (array): ``(N,)``.
        by (array): ``(N,)`` the binned quantity (severity in [0, 1]).
        edges (Sequence[float]): Increasing bin edges. Defaults to three
            equal bins over [0, 1].

    Returns:
        BinnedMeans
    """
    values = np.asarray(values, dtype=np.float64)
    by = np.asarray(by, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    if values.shape != by.shape or values.ndim != 1:
        raise ValueError(f'values and by must both be (N,), got '
                         f'{values.shape} and {by.shape}')
    if len(edges) < 2 or (np.diff(edges) <= 0).any():
        raise ValueError(f'edges must be increasing, got {edges.tolist()}')
    idx = bin_index(by, edges)
    m = len(edges) - 1
    mean, sem = np.full(m, np.nan), np.full(m, np.nan)
    count = np.bincount(idx, minlength=m)
    for b in range(m):
        in_bin = values[idx == b]
        if len(in_bin):
            mean[b] = in_bin.mean()
        if len(in_bin) > 1:
            sem[b] = in_bin.std(ddof=1) / np.sqrt(len(in_bin))
    return BinnedMeans(edges, mean, sem, count)


def pareto_front(costs: ArrayLike, qualities: ArrayLike
                 ) -> Tuple[int, ...]:
    """Indices of the points no other point beats: none has a cost
    ``<=`` and a quality ``>=`` with one of them strict. Sorted by cost.

    Args:
        costs (array): ``(P,)`` lower is better (ms/MP, FLOPs).
        qualities (array): ``(P,)`` higher is better (macro PSNR).

    Returns:
        tuple[int, ...]
    """
    costs = np.asarray(costs, dtype=np.float64)
    qualities = np.asarray(qualities, dtype=np.float64)
    if costs.shape != qualities.shape or costs.ndim != 1:
        raise ValueError(f'costs and qualities must both be (P,), got '
                         f'{costs.shape} and {qualities.shape}')
    front = []
    for i in range(len(costs)):
        dominated = ((costs <= costs[i]) & (qualities >= qualities[i]) &
                     ((costs < costs[i]) | (qualities > qualities[i])))
        if not dominated.any():
            front.append(i)
    return tuple(sorted(front, key=lambda i: (costs[i], -qualities[i])))
