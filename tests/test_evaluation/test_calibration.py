"""Router calibration: ECE against torchmetrics and hand cases, NLL against
its formula, temperature scaling on miscalibrated toys, the abstention
threshold against a brute-force search, and the calibration JSON."""
import json

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import \
    multiclass_calibration_error

from featsel.evaluation.calibration import (calibrate, calibration_bins,
                                            coverage_curve,
                                            expected_calibration_error,
                                            fit_temperature,
                                            negative_log_likelihood,
                                            read_calibration,
                                            search_threshold, softmax_probs,
                                            write_calibration)
from featsel.utils import DataError


def _toy(n=2000, k=3, scale=1.0, seed=0):
    """Labels drawn from softmax(z): logits ``scale * z`` are calibrated at
    ``T = scale`` (over-confident for scale > 1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = np.array([rng.choice(k, p=row) for row in p])
    return scale * z, labels


@pytest.mark.parametrize('k,seed', [(3, 0), (3, 1), (5, 2)])
def test_ece_matches_torchmetrics(k, seed):
    logits, labels = _toy(n=1500, k=k, scale=2.0, seed=seed)
    probs = softmax_probs(logits)
    ours = expected_calibration_error(probs, labels)
    ref = multiclass_calibration_error(
        torch.as_tensor(probs), torch.as_tensor(labels), num_classes=k,
        n_bins=15, norm='l1').item()
    assert abs(ours - ref) < 1e-6


def test_ece_hand_cases():
    # 10 images at confidence 0.9, 9 correct: calibrated, ECE 0
    probs = np.tile([0.9, 0.05, 0.05], (10, 1))
    labels = np.array([0] * 9 + [1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0,
                                                                       abs=1e-12)
    # all wrong at 0.9: ECE 0.9; half at 0.6 right, half at 0.9 wrong:
    # (1/2)|1 - 0.6| + (1/2)|0 - 0.9| = 0.65
    assert expected_calibration_error(probs, np.ones(10, int)) == \
        pytest.approx(0.9)
    probs = np.array([[0.6, 0.4]] * 2 + [[0.9, 0.1]] * 2)
    labels = np.array([0, 0, 1, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.65)


def test_bins_are_right_open_with_the_last_closed():
    probs = np.array([[0.2, 0.8], [1 / 3, 2 / 3], [0.0, 1.0], [0.5, 0.5]])
    bins = calibration_bins(probs, np.array([1, 1, 1, 0]), n_bins=3)
    np.testing.assert_allclose(bins.edges, [0, 1 / 3, 2 / 3, 1])
    # 0.5 -> bin 1; 2/3 -> bin 2 (left edge); 0.8 and 1.0 -> bin 2
    assert bins.count.tolist() == [0, 1, 3]
    np.testing.assert_allclose(bins.confidence, [0, 0.5, (0.8 + 2 / 3 + 1)
                                                 / 3])
    np.testing.assert_allclose(bins.accuracy, [0, 1, 1])


def test_nll_formula():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]])
    labels = np.array([0, 2])
    for t in (1.0, 2.5):
        z = logits / t
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        expected = -logp[[0, 1], labels].mean()
        assert negative_log_likelihood(logits, labels, t) == \
            pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize('scale', [4.0, 0.3])
def test_temperature_recovers_the_miscalibration(scale):
    """Over-confident logits (scale 4) need T > 1, under-confident
    (scale 0.3) T < 1; either way the NLL falls and T is near ``scale``."""
    logits, labels = _toy(scale=scale)
    t = fit_temperature(logits, labels)
    assert (t > 1) == (scale > 1)
    assert t == pytest.approx(scale, rel=0.15)
    nll = negative_log_likelihood(logits, labels, t)
    assert nll < negative_log_likelihood(logits, labels)
    # a minimum: nudging T either way does not lower the NLL
    for factor in (0.99, 1.01):
        assert nll <= negative_log_likelihood(logits, labels,
                                              t * factor) + 1e-12


def test_temperature_lowers_the_ece_of_an_over_confident_router():
    logits, labels = _toy(scale=4.0)
    record, _ = calibrate(logits, labels)
    assert record.temperature > 1
    assert record.nll_after < record.nll_before
    assert record.ece_after < record.ece_before
    assert record.ece_after < 0.03


def test_temperature_stays_in_range_when_the_data_are_separable():
    logits = np.array([[5.0, 0.0], [0.0, 5.0]])
    t = fit_temperature(logits, np.array([0, 1]), t_range=(0.05, 20))
    assert 0.05 <= t <= 0.0501    # NLL falls towards T -> 0


def test_coverage_curve_hand_case():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45],
                      [0.8, 0.2]])
    labels = np.array([0, 1, 1, 0, 0])   # right, wrong, right, right, right
    curve = coverage_curve(probs, labels)
    np.testing.assert_allclose(curve.tau, [0, 0.6, 0.7, 0.8, 0.9])
    np.testing.assert_allclose(curve.abstention, [0, 0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(curve.kept_accuracy,
                               [4 / 5, 3 / 4, 3 / 3, 2 / 2, 1])
    # with a 40 % cap, tau = 0.7 is the smallest with accuracy 1
    found = search_threshold(probs, labels, max_abstention=0.4)
    assert (found.tau, found.abstention, found.kept_accuracy) == (0.7, 0.4,
                                                                  1.0)


@pytest.mark.parametrize('cap', [0.0, 0.05, 0.10, 0.25])
def test_threshold_meets_the_cap_and_beats_every_other(cap):
    logits, labels = _toy(n=600, scale=1.0, seed=3)
    probs = softmax_probs(logits)
    found = search_threshold(probs, labels, max_abstention=cap)
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    kept = conf >= found.tau
    assert found.abstention <= cap
    assert found.abstention == pytest.approx(1 - kept.mean())
    assert found.kept_accuracy == pytest.approx(correct[kept].mean())
    # brute force over every possible threshold
    for tau in np.concatenate([[0.0], np.unique(conf)]):
        keep = conf >= tau
        if 1 - keep.mean() <= cap:
            assert correct[keep].mean() <= found.kept_accuracy + 1e-12
    if cap == 0.0:
        assert found.tau == 0.0


def test_calibration_json_round_trip(tmp_path):
    logits, labels = _toy(n=300, scale=3.0)
    record, search = calibrate(logits, labels, max_abstention=0.1,
                               split_sizes={'train': 900})
    assert record.split_sizes == {'calibration': 300, 'train': 900}
    assert record.tau == search.tau and record.abstention <= 0.1
    path = str(tmp_path / 'calibration.json')
    write_calibration(record, path)
    assert read_calibration(path) == record


@pytest.mark.parametrize('change,match', [
    (lambda d: d.pop('tau'), r"missing keys \['tau'\]"),
    (lambda d: d.update(extra=1), r"unknown keys \['extra'\]"),
    (lambda d: d.update(temperature=-1.0), '"temperature" must be'),
    (lambda d: d.update(tau='0.5'), '"tau" must be'),
    (lambda d: d.update(n_bins=1.5), '"n_bins" must be'),
    (lambda d: d.update(split_sizes={'train': 3}), '"split_sizes"'),
])
def test_bad_calibration_json_names_file_and_key(tmp_path, change, match):
    record, _ = calibrate(*_toy(n=100))
    data = record._asdict()
    change(data)
    path = tmp_path / 'calibration.json'
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=match) as err:
        read_calibration(str(path))
    assert str(path) in str(err.value)


def test_unreadable_calibration_json(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('{"temperature": ')
    with pytest.raises(DataError, match='broken.json: not valid JSON'):
        read_calibration(str(path))
    with pytest.raises(DataError, match='missing.json: cannot read'):
        read_calibration(str(tmp_path / 'missing.json'))
    path.write_text('[1, 2]')
    with pytest.raises(DataError, match='expected a JSON object'):
        read_calibration(str(path))


def test_bad_inputs():
    with pytest.raises(ValueError, match='labels'):
        expected_calibration_error(np.full((3, 2), 0.5), np.array([0, 1]))
    with pytest.raises(ValueError, match=r'labels must lie in \[0, 2\)'):
        expected_calibration_error(np.full((2, 2), 0.5), np.array([0, 2]))
    with pytest.raises(ValueError, match='max_abstention'):
        search_threshold(np.full((2, 2), 0.5), np.array([0, 1]), 1.5)
