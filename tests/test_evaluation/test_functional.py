import numpy as np
import pytest

from featsel.evaluation.functional import (boundary_scores, dice, iou,
                                           mean_absolute_error)


def _square(lo_row, lo_col, side=4, size=10):
    mask = np.zeros((size, size), np.uint8)
    mask[lo_row:lo_row + side, lo_col:lo_col + side] = 1
    return mask


def _outline(mask):
    """One-pixel inner outline of an axis-aligned square mask."""
    inner = np.zeros_like(mask)
    inner[1:-1, 1:-1] = mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & \
        mask[1:-1, 2:] & mask[1:-1, 1:-1]
    return mask - inner


def test_dice_iou_shifted_square():
    gt, pred = _square(2, 2), _square(2, 3)
    # |P ∩ G| = 4 x 3 = 12, |P| = |G| = 16, |P ∪ G| = 20.
    assert dice(pred, gt) == pytest.approx(24 / 32)
    assert iou(pred, gt) == pytest.approx(12 / 20)


def test_dice_iou_empty_cases():
    empty, gt = np.zeros((5, 5)), _square(1, 1, side=2, size=5)
    assert dice(empty, empty) == 1 and iou(empty, empty) == 1
    assert dice(empty, gt) == 0 and iou(gt, empty) == 0


def test_dice_of_trivial_predictors():
    gt = _square(2, 2)
    assert dice(np.ones_like(gt), gt) == pytest.approx(2 * 16 / (100 + 16))
    assert dice(np.zeros_like(gt), gt) == 0


def test_mae():
    gt = np.linspace(-1, 1, 12).reshape(3, 4)
    assert mean_absolute_error(gt + 0.25, gt) == pytest.approx(0.25)
    pred = gt.copy()
    pred[0, 0] += 1.2
    assert mean_absolute_error(pred, gt) == pytest.approx(0.1)


def test_boundary_tolerance_zero_vs_one():
    gt, pred = _outline(_square(2, 2)), _outline(_square(2, 3))
    assert gt.sum() == pred.sum() == 12
    # Exact matches: rows 2 and 5, columns 3..5 -> 6 of 12 on each side.
    assert boundary_scores(pred, gt, tolerance=0) == pytest.approx(
        (0.5, 0.5, 0.5))
    # Every pixel of each outline is 1 px from the other.
    assert boundary_scores(pred, gt, tolerance=1) == pytest.approx(
        (1.0, 1.0, 1.0))


def test_boundary_precision_recall_asymmetric():
    gt = _outline(_square(2, 2))
    pred = np.zeros_like(gt)
    pred[2, 2:6] = 1  # the top edge only
    precision, recall, f_score = boundary_scores(pred, gt, tolerance=0)
    assert precision == 1 and recall == pytest.approx(4 / 12)
    assert f_score == pytest.approx(2 * (1 / 3) / (1 + 1 / 3))


def test_boundary_empty_cases():
    empty, gt = np.zeros((6, 6)), _outline(_square(1, 1, size=6))
    assert boundary_scores(empty, empty) == (1.0, 1.0, 1.0)
    assert boundary_scores(empty, gt) == (0.0, 0.0, 0.0)
    assert boundary_scores(gt, empty) == (0.0, 0.0, 0.0)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match='shape'):
        dice(np.zeros((3, 3)), np.zeros((3, 4)))
