""""Global, then tile" restoration: the tile grid, the blending weights,
tiled against untiled (pointwise decoder, context), against MONAI's
sliding-window blending on the same grid, seams, and the image I/O."""
import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from featsel.apis import (blend_tiles, blend_window, resolve_context, restore,
                          restore_tensor, tile_grid, tile_regions,
                          tiled_decode)
from featsel.models import GlobalLocalRestorer
from featsel.utils import ConfigError, DataError


def _model(**kwargs) -> GlobalLocalRestorer:
    torch.manual_seed(0)
    return GlobalLocalRestorer(**kwargs).eval()


def _image(h: int, w: int, seed: int = 1) -> torch.Tensor:
    """A smooth image (random 8x8 colours, bilinear) in [0, 1]."""
    coarse = torch.rand(1, 3, 8, 8,
                        generator=torch.Generator().manual_seed(seed))
    return nn.functional.interpolate(coarse, size=(h, w), mode='bilinear')


# ---------------------------------------------------------------------- #
# grid and weights
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('length,tile,overlap,expected', [
    (1024, 512, 64, (384, [0, 320, 640])),
    (3840, 512, 64, (512, [0, 448, 896, 1344, 1792, 2240, 2688, 3136,
                           3328])),
    (2304, 512, 64, (512, [0, 448, 896, 1344, 1792])),
    (256, 128, 32, (128, [0, 96, 128])),
    (320, 512, 64, (320, [0])),
    (1024, 512, 0, (512, [0, 512])),
])
def test_tile_grid_by_hand(length, tile, overlap, expected):
    assert tile_grid(length, tile, overlap, 32) == expected


@pytest.mark.parametrize('overlap', [0, 32, 64])
def test_tile_grid_covers_with_the_overlap(overlap):
    for length in range(32, 3000, 32):
        size, starts = tile_grid(length, 256, overlap, 32)
        assert size <= 256 and size % 32 == 0
        assert starts[0] == 0 and starts[-1] + size == length
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert all(0 < g <= size - overlap for g in gaps)


def test_tile_grid_errors_name_the_argument():
    with pytest.raises(ConfigError, match='tile=500 must be a multiple'):
        tile_grid(1024, 500, 64, 32)
    with pytest.raises(ConfigError, match='overlap=48 must be a multiple'):
        tile_grid(1024, 512, 48, 32)
    with pytest.raises(ConfigError, match=r'overlap=512 must lie in'):
        tile_grid(1024, 512, 512, 32)


def test_hann_window_is_the_clamped_symmetric_hann():
    w = blend_window(7, 11, 'hann')
    rows = np.maximum(np.hanning(7), 1e-3)  # numpy's Hann is symmetric
    cols = np.maximum(np.hanning(11), 1e-3)
    np.testing.assert_allclose(w.numpy(), np.outer(rows, cols), atol=1e-6,
                               rtol=1e-5)  # float32 against float64
    i = torch.arange(11)
    # row 3 of 7 is the centre row (weight 1): sin^2(pi i / 10), clamped
    torch.testing.assert_close(
        w[3], (torch.sin(math.pi * i / 10)**2).clamp_min(1e-3))
    assert w.min().item() == pytest.approx(1e-6, rel=1e-4)
    assert w.max() == 1
    assert torch.equal(blend_window(3, 4, 'uniform'), torch.ones(3, 4))
    with pytest.raises(ConfigError, match="blend must be one of"):
        blend_window(3, 3, 'gaussian')


@pytest.mark.parametrize('blend', ['hann', 'uniform'])
def test_blending_weights_are_normalised(blend):
    """A constant comes out unchanged; the weights of every pixel sum to
    one after normalisation (checked by blending the indicator of each
    tile: the sum of the normalised weights is 1 everywhere)."""
    h, w = 256, 320
    regions = tile_regions(h, w, 128, 32, 32)
    constant = blend_tiles(lambda r: torch.full((1, 2, r[1] - r[0],
                                                 r[3] - r[2]), 0.7),
                           h, w, 128, 32, 32, blend)
    torch.testing.assert_close(constant, torch.full((1, 2, h, w), 0.7))
    total = torch.zeros(h, w)
    for k in range(len(regions)):
        total += blend_tiles(
            lambda r, k=k: torch.full(
                (1, 1, r[1] - r[0], r[3] - r[2]),
                float(r == regions[k])), h, w, 128, 32, 32, blend)[0, 0]
    torch.testing.assert_close(total, torch.ones(h, w))


# ---------------------------------------------------------------------- #
# tiled against untiled
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('blend', ['hann', 'uniform'])
def test_pointwise_decoder_tiled_equals_untiled(blend):
    model = _model(decoder_kernel_size=1, crop_size=64)
    x = _image(200, 290)  # padded to 256 x 320: 4 x 5 tiles of 96
    with torch.no_grad():
        untiled = model(x, return_global=False)
    tiled = restore_tensor(model, x, tile=96, overlap=32, blend=blend)
    assert len(tile_regions(256, 320, 96, 32, 32)) == 20
    torch.testing.assert_close(tiled, untiled, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('blend', ['hann', 'uniform'])
def test_blending_matches_monai_sliding_window(blend):
    """Same grid and window as MONAI's sliding_window_inference: a real
    (3x3) decoder decoded tile by tile, blended by both."""
    inferers = pytest.importorskip(
        'monai.inferers', reason='MONAI (a test requirement) is needed')
    model = _model(crop_size=64)
    with torch.no_grad():
        cache = model.encode(_image(256, 320))
        ours = tiled_decode(model, cache, tile=128, overlap=32, blend=blend)
        size_h, _ = tile_grid(256, 128, 32, 32)
        size_w, _ = tile_grid(320, 128, 32, 32)
        coords = torch.stack(torch.meshgrid(
            torch.arange(256.), torch.arange(320.), indexing='ij'))[None]

        def predictor(window):
            y0, x0 = int(window[0, 0, 0, 0]), int(window[0, 1, 0, 0])
            return model.decode(cache, (y0, y0 + window.shape[-2], x0,
                                        x0 + window.shape[-1]))

        theirs = inferers.sliding_window_inference(
            coords, (size_h, size_w), 1, predictor,
            overlap=(32 / size_h, 32 / size_w), mode='constant',
            roi_weight_map=blend_window(size_h, size_w, blend))
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_no_seams_with_hann():
    """A real decoder without context: tiles differ from the untiled decode
    near their inner borders. With Hann weights the error has no step at a
    tile border and is not larger there than inside the tiles; plain
    averaging (uniform) steps at the borders."""
    model = _model()
    x = _image(256, 256)
    with torch.no_grad():
        untiled = model(x, return_global=False)
    regions = tile_regions(256, 256, 128, 64, 32)
    lines = sorted({r[2] for r in regions if r[2]}
                   | {r[3] for r in regions if r[3] < 256})
    stats = {}
    for blend in ('hann', 'uniform'):
        err = (restore_tensor(model, x, tile=128, overlap=64, blend=blend)
               - untiled)[0].abs().amax(0)
        step = (err[:, 1:] - err[:, :-1]).abs().amax(0)  # step[c]: c -> c+1
        at = torch.zeros(255, dtype=torch.bool)
        at[[c - 1 for c in lines]] = True
        border = err[:, lines].max()
        inside = err[:, [c for c in range(256) if c not in lines]].max()
        stats[blend] = (step[at].max(), border, inside)
    step, border, inside = stats['hann']
    assert border <= inside and step < 1e-3 and inside < 0.01
    assert stats['uniform'][0] > 10 * step  # averaging leaves a step


@pytest.mark.parametrize('blend,overlap', [('hann', 0), ('uniform', 64),
                                           ('hann', 64)])
def test_context_makes_tiles_exact(blend, overlap):
    model = _model(adapters=dict(derain=dict(type='BottleneckAdapter')))
    with torch.no_grad():
        for p in model.adapters.parameters():
            p.add_(0.3)
        x = _image(256, 192)
        untiled = model(x, return_global=False, adapter_task='derain')
    # the adapters' depthwise convs widen the radius: 31 + 8 + 4 + 2 + 1
    assert model.receptive_radius('derain') == 46
    assert resolve_context(model, None, 'derain') == 64
    tiled = restore_tensor(model, x, 'derain', tile=128, overlap=overlap,
                           blend=blend, context=None)
    torch.testing.assert_close(tiled, untiled, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match='context=16'):
        restore_tensor(model, x, tile=128, context=16)


# ---------------------------------------------------------------------- #
# restore(): inputs and outputs
# ---------------------------------------------------------------------- #
def _identity_model() -> GlobalLocalRestorer:
    """A restorer whose output is its input (head zeroed): the global
    residual passes the image through."""
    model = _model(crop_size=64)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    return model


def test_restore_round_trips_arrays_files_and_tensors(tmp_path):
    model = _identity_model()
    rgb = np.random.default_rng(0).integers(0, 256, (70, 90, 3), np.uint8)
    out = restore(model, rgb, tile=64, overlap=32)
    assert out.dtype == np.uint8 and np.array_equal(out, rgb)
    path = tmp_path / 'image.png'
    cv2.imwrite(str(path), rgb[..., ::-1])  # files hold BGR
    assert np.array_equal(restore(model, path, tile=64, overlap=32), rgb)
    as_float = restore(model, rgb / 255.0, tile=64, overlap=32)
    assert as_float.dtype == np.float32 and as_float.shape == (70, 90, 3)
    np.testing.assert_allclose(as_float, rgb / 255.0, atol=1e-6)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    assert restore(model, tensor).shape == (70, 90, 3)
    assert restore(model, tensor[None].repeat(2, 1, 1, 1)).shape == (2, 70,
                                                                    90, 3)


def test_restore_finds_the_backbone_and_uses_the_task():
    backbone = _model(crop_size=64, adapters=dict(dehaze=dict(type='FiLM')))
    with torch.no_grad():
        backbone.adapters['dehaze']['dec0'].beta.fill_(0.2)
    wrapper = nn.Module()
    wrapper.backbone = backbone
    x = _image(64, 64)
    plain = restore(wrapper, x[0])
    dehazed = restore(wrapper, x[0], task='dehaze')
    with torch.no_grad():
        expected = backbone(x, return_global=False, adapter_task='dehaze')
    np.testing.assert_allclose(
        dehazed, expected[0].clamp(0, 1).permute(1, 2, 0).numpy(),
        atol=1e-5)
    assert np.abs(dehazed - plain).max() > 0.1


def test_restore_errors_are_clear(tmp_path):
    model = _identity_model()
    with pytest.raises(TypeError, match='Linear is not a GlobalLocal'):
        restore(nn.Linear(2, 2), np.zeros((8, 8, 3), np.uint8))
    missing = tmp_path / 'nope.png'
    with pytest.raises(FileNotFoundError, match='nope.png'):
        restore(model, missing)
    with pytest.raises(DataError, match=r'\(H, W, C\)'):
        restore(model, np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match='float'):
        restore(model, torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ConfigError, match='blend'):
        restore(model, np.zeros((8, 8, 3), np.uint8), blend='gauss')
    with pytest.raises(ConfigError, match='tile=100'):
        restore(model, np.zeros((8, 8, 3), np.uint8), tile=100)
    with pytest.raises(ConfigError, match='adapter_task "x"'):
        restore(model, np.zeros((8, 8, 3), np.uint8), task='x')
