"""MoE-I report pictures: each figure draws the numbers it was given, and
save_figure writes a PNG of the figure's size."""
import cv2
import numpy as np
import pytest

from featsel.evaluation.calibration import calibration_bins, coverage_curve
from featsel.visualization import (coverage_accuracy_figure,
                                   misrouting_figure, pareto_figure,
                                   reliability_figure, save_figure,
                                   severity_gains_figure)


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3)) * 2
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = rng.integers(0, 3, n)
    return probs, labels


def _bar_heights(ax):
    return [p.get_height() for p in ax.patches]


def test_reliability_bars_are_the_bin_accuracies(tmp_path):
    probs, labels = _toy()
    bins = calibration_bins(probs, labels)
    fig = reliability_figure({'before': bins._asdict()})
    shown = bins.count > 0
    np.testing.assert_allclose(_bar_heights(fig.axes[0]),
                               bins.accuracy[shown])
    path = save_figure(fig, str(tmp_path / 'reliability.png'))
    image = cv2.imread(path)
    assert image.shape == (400, 500, 3)      # 5 x 4 inches at 100 dpi
    assert image.std() > 0


def test_coverage_curve_is_drawn_against_coverage(tmp_path):
    probs, labels = _toy()
    curve = coverage_curve(probs, labels)
    fig = coverage_accuracy_figure(curve.abstention, curve.kept_accuracy,
                                   chosen=(0.08, 0.7), max_abstention=0.1)
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), 1 - curve.abstention)
    np.testing.assert_allclose(line.get_ydata(), curve.kept_accuracy)
    assert cv2.imread(save_figure(fig, str(tmp_path / 'c.png'))) is not None
    with pytest.raises(ValueError, match='kept_accuracy'):
        coverage_accuracy_figure([0, 0.1], [1.0])


def test_misrouting_series_in_percent(tmp_path):
    fig = misrouting_figure([0.05, 0.1, 0.2], {'moe_actual': [0.05, 0.1,
                                                              0.3]},
                            bar=0.2)
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [5, 10, 20])
    np.testing.assert_allclose(line.get_ydata(), [0.05, 0.1, 0.3])
    assert cv2.imread(save_figure(fig, str(tmp_path / 'm.png'))) is not None
    with pytest.raises(ValueError, match='moe_actual'):
        misrouting_figure([0.1, 0.2], {'moe_actual': [0.1]})


def test_severity_gains_grouped_bars(tmp_path):
    gains = {'dehaze': [0.1, 0.2, 0.4], 'derain': [0.0, np.nan, 0.3]}
    fig = severity_gains_figure(['low', 'mid', 'high'], gains,
                                errors={'dehaze': [0.05, 0.05, 0.1]})
    heights = _bar_heights(fig.axes[0])
    np.testing.assert_allclose(heights, [0.1, 0.2, 0.4, 0.0, 0.0, 0.3])
    assert cv2.imread(save_figure(fig, str(tmp_path / 's.png'))) is not None


def test_pareto_front_line(tmp_path):
    points = {'dense': (10., 30.), 'moe_i': (10.5, 30.6),
              'expert_only': (12., 30.2)}
    fig = pareto_figure(points, front=['dense', 'moe_i'])
    front_line = fig.axes[0].lines[-1]
    np.testing.assert_allclose(front_line.get_xdata(), [10., 10.5])
    np.testing.assert_allclose(front_line.get_ydata(), [30., 30.6])
    assert cv2.imread(save_figure(fig, str(tmp_path / 'p.png'))) is not None
    with pytest.raises(ValueError, match='missing'):
        pareto_figure(points, front=['missing'])
