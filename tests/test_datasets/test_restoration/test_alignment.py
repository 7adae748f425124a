import numpy as np
import pytest

from featsel.datasets.restoration import (add_haze, add_rain, add_snow,
                                          check_alignment, estimate_shift,
                                          make_scene)


def _fourier_shift(img, dx, dy):
    """``img`` moved by (dx, dy) pixels (band-limited, periodic)."""
    h, w = img.shape[:2]
    phase = np.exp(-2j * np.pi * (np.fft.fftfreq(w)[None] * dx +
                                  np.fft.fftfreq(h)[:, None] * dy))
    out = [np.fft.ifft2(np.fft.fft2(img[..., c]) * phase).real
           for c in range(3)]
    return np.clip(np.stack(out, -1), 0, 1).astype(np.float32)


@pytest.fixture(scope='module')
def scene():
    return make_scene(np.random.default_rng(3), 128, 128)


@pytest.mark.parametrize('kind', ['haze', 'rain', 'snow'])
def test_degraded_pairs_pass_and_a_2px_shift_is_flagged(scene, kind):
    img, depth = scene
    rng = np.random.default_rng(0)
    lq = dict(haze=lambda: add_haze(img, depth, 0.8, rng),
              rain=lambda: add_rain(img, 0.8, rng),
              snow=lambda: add_snow(img, 0.8, rng))[kind]()
    aligned = check_alignment(lq, img)
    assert aligned['aligned'] and aligned['shift'] < 0.3
    moved = np.roll(lq, (0, 2), axis=(0, 1))  # 2 px to the right
    shifted = check_alignment(moved, img)
    assert not shifted['aligned']
    assert shifted['dx'] == pytest.approx(2, abs=0.15)
    assert shifted['dy'] == pytest.approx(0, abs=0.15)


@pytest.mark.parametrize('dx, dy', [(1.3, -0.6), (-0.45, 0.85)])
def test_subpixel_shift(scene, dx, dy):
    img, _ = scene
    out = estimate_shift(img, _fourier_shift(img, dx, dy))
    assert out['dx'] == pytest.approx(dx, abs=0.05)
    assert out['dy'] == pytest.approx(dy, abs=0.05)
    assert out['response'] > 0.8
    assert check_alignment(_fourier_shift(img, dx, dy), img)['aligned'] == \
        (np.hypot(dx, dy) <= 1)


def test_identical_and_unrelated_images(scene):
    img, _ = scene
    same = estimate_shift(img, img)
    assert same['shift'] < 1e-6 and same['response'] == pytest.approx(1)
    other, _ = make_scene(np.random.default_rng(9), 128, 128)
    assert estimate_shift(img, other)['response'] < 0.3
    with pytest.raises(ValueError, match='different sizes'):
        estimate_shift(img, img[:64])
