"""Per-image scores for binary masks, signed distance maps and boundaries.

All functions take numpy arrays of one image, any shape as long as
prediction and ground truth agree, and return Python floats.
"""
from typing import Tuple

import numpy as np
from scipy.ndimage import distance_transform_edt


def _check_shapes(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} differs from ground '
                         f'truth shape {gt.shape}')


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice coefficient ``2|P ∩ G| / (|P| + |G|)``; 1 when both are empty.

    Args:
        pred (np.ndarray): (H, W) binary prediction.
        gt (np.ndarray): (H, W) binary ground truth.

    Returns:
        float: Dice in [0, 1].
    """
    _check_shapes(pred, gt)
    p, g = pred.astype(bool), gt.astype(bool)
    total = p.sum() + g.sum()
    return 1.0 if total == 0 else float(2 * (p & g).sum() / total)


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union ``|P ∩ G| / |P ∪ G|``; 1 when both are empty.

    Args:
        pred (np.ndarray): (H, W) binary prediction.
        gt (np.ndarray): (H, W) binary ground truth.

    Returns:
        float: IoU in [0, 1].
    """
    _check_shapes(pred, gt)
    p, g = pred.astype(bool), gt.astype(bool)
    union = (p | g).sum()
    return 1.0 if union == 0 else float((p & g).sum() / union)


def mean_absolute_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean over pixels of ``|pred - gt|``.

    Args:
        pred (np.ndarray): (H, W) predicted map, e.g. a signed distance.
        gt (np.ndarray): (H, W) ground-truth map.

    Returns:
        float: The mean absolute error.
    """
    _check_shapes(pred, gt)
    diff = pred.astype(np.float64) - gt.astype(np.float64)
    return float(np.abs(diff).mean())


def _share_within(src: np.ndarray, dst: np.ndarray, tolerance: float) -> float:
    """Share of ``src`` pixels within ``tolerance`` px of a ``dst`` pixel.

    Both masks must be non-empty.
    """
    dist_to_dst = distance_transform_edt(~dst)
    return float((dist_to_dst[src] <= tolerance).mean())


def boundary_scores(pred: np.ndarray, gt: np.ndarray,
                    tolerance: float = 2) -> Tuple[float, float, float]:
    """Boundary precision, recall and F-score with a distance tolerance.

    precision = share of predicted boundary pixels whose Euclidean distance
    to the nearest ground-truth boundary pixel is ``<= tolerance``; recall
    is the same with the roles swapped; ``F = 2PR / (P + R)`` (0 when
    ``P + R = 0``). Both maps empty gives (1, 1, 1); exactly one empty
    gives (0, 0, 0).

    Args:
        pred (np.ndarray): (H, W) binary predicted boundary map.
        gt (np.ndarray): (H, W) binary ground-truth boundary map.
        tolerance (float): Distance tolerance in pixels; 0 asks for exact
            pixel matches. Defaults to 2.

    Returns:
        tuple[float, float, float]: Precision, recall and F-score.
    """
    _check_shapes(pred, gt)
    p, g = pred.astype(bool), gt.astype(bool)
    if not p.any() and not g.any():
        return 1.0, 1.0, 1.0
    if not p.any() or not g.any():
        return 0.0, 0.0, 0.0
    precision = _share_within(p, g, tolerance)
    recall = _share_within(g, p, tolerance)
    total = precision + recall
    f_score = 0.0 if total == 0 else 2 * precision * recall / total
    return precision, recall, f_score
