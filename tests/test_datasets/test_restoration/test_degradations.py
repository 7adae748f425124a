import numpy as np
import pytest

from featsel.datasets.restoration import (add_haze, add_rain, add_snow,
                                          make_scene)
from featsel.datasets.restoration.degradations import (HAZE_BETA_MAX,
                                                       line_kernel)


def _scene(seed=0, size=64):
    return make_scene(np.random.default_rng(seed), size, size)


def test_haze_follows_the_scattering_model():
    # two pixels at one depth: I1 - I2 = (J1 - J2) t, t = exp(-beta d)
    img = np.array([[[0.1, 0.2, 0.3], [0.6, 0.5, 0.9]]], np.float32)
    depth = np.full((1, 2), 0.4, np.float32)
    out = add_haze(img, depth, 0.5, np.random.default_rng(0))
    t = np.exp(-HAZE_BETA_MAX * 0.5 * 0.4)
    np.testing.assert_allclose(out[0, 0] - out[0, 1],
                               (img[0, 0] - img[0, 1]) * t, atol=1e-6)
    # the airlight solves I = J t + A (1 - t)
    airlight = (out[0, 0] - img[0, 0] * t) / (1 - t)
    assert np.all((0.75 < airlight) & (airlight < 1.0))


@pytest.mark.parametrize('degrade', ['haze', 'rain', 'snow'])
def test_severity_zero_is_clean_and_more_is_further(degrade):
    img, depth = _scene()
    calls = dict(haze=lambda s: add_haze(img, depth, s,
                                         np.random.default_rng(1)),
                 rain=lambda s: add_rain(img, s, np.random.default_rng(1)),
                 snow=lambda s: add_snow(img, s, np.random.default_rng(1)))
    np.testing.assert_allclose(calls[degrade](0.0), img, atol=1e-6)
    errors = [np.abs(calls[degrade](s) - img).mean()
              for s in (0.25, 0.5, 1.0)]
    assert 0 < errors[0] < errors[1] < errors[2]
    with pytest.raises(ValueError, match='severity'):
        calls[degrade](1.5)


def test_line_kernel_length_and_angle():
    vertical = line_kernel(9, 0)
    assert vertical.shape == (9, 9)
    # a vertical line: the centre column, 1 along the length (and a faint
    # anti-aliased fringe)
    np.testing.assert_allclose(vertical[:, 4], 1)
    assert vertical.sum() == pytest.approx(9, rel=0.15)
    assert line_kernel(9, 0, width=3).sum() == pytest.approx(27, rel=0.1)
    leaning = line_kernel(9, 30)
    ys, xs = np.nonzero(leaning > 0.5)
    slope = np.polyfit(ys, xs, 1)[0]  # dx/dy, positive: lower end right
    assert slope == pytest.approx(np.tan(np.radians(30)), abs=0.1)
