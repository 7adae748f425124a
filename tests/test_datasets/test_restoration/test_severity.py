import cv2
import numpy as np
import pytest

from featsel.datasets.restoration import (SEVERITY_ESTIMATORS, add_haze,
                                          add_rain, add_snow, make_scene)
from featsel.datasets.restoration.degradations import (flake_layer,
                                                       rain_layer)
from featsel.datasets.restoration.severity import (rain_orientation,
                                                   snow_blobs)

LEVELS = (0.25, 0.5, 0.75, 1.0)


def _degrade(kind, img, depth, s):
    rng = np.random.default_rng(7)
    if kind == 'haze':
        out = add_haze(img, depth, s, rng)
    elif kind == 'rain':
        out = add_rain(img, s, rng)
    else:
        out = add_snow(img, s, rng)
    return np.round(out * 255).astype(np.uint8)


@pytest.mark.parametrize('kind', ['haze', 'rain', 'snow'])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_estimators_grow_with_the_generator_severity(kind, seed):
    img, depth = make_scene(np.random.default_rng(seed), 96, 96)
    estimate = SEVERITY_ESTIMATORS[kind]
    values = [estimate(_degrade(kind, img, depth, s)) for s in LEVELS]
    assert all(0 <= v <= 1 for v in values)
    assert all(a < b for a, b in zip(values, values[1:])), values
    clean = estimate(np.round(img * 255).astype(np.uint8))
    assert clean < values[1]


def test_estimators_are_nearly_scale_free():
    img, depth = make_scene(np.random.default_rng(4), 128, 128)
    hazy = _degrade('haze', img, depth, 0.6)
    big = cv2.resize(hazy, (512, 512), interpolation=cv2.INTER_CUBIC)
    small, large = (SEVERITY_ESTIMATORS['haze'](x) for x in (hazy, big))
    assert large == pytest.approx(small, abs=0.05)


@pytest.mark.parametrize('angle', [-20.0, 0.0, 15.0])
def test_rain_direction_is_found(angle):
    streaks = rain_layer(np.random.default_rng(0), (128, 128), 0.08, 14, 1,
                         angle, 0.7)
    img = np.repeat((0.3 + 0.6 * streaks)[..., None], 3, axis=2)
    stats = rain_orientation(img)
    assert stats['angle'] == pytest.approx(angle, abs=4)
    assert stats['consistency'] > 0.6


def test_snow_blob_density_and_scale():
    grey = np.full((128, 128, 3), 0.3, np.float32)

    def flakes(cover, radius):
        layer = flake_layer(np.random.default_rng(0), (128, 128), cover,
                            radius, (0.9, 1.0), disc=False)
        return grey * (1 - layer[..., None]) + layer[..., None]

    sparse, dense = snow_blobs(flakes(0.02, 1.5)), snow_blobs(
        flakes(0.08, 1.5))
    assert dense['density'] > 2 * sparse['density']
    assert dense['cover'] > sparse['cover']
    big = snow_blobs(flakes(0.08, 4.0))
    assert big['scale'] > 1.5 * dense['scale']
    assert snow_blobs(grey)['cover'] == 0 and snow_blobs(grey)['scale'] == 0
