"""Transforms of stacked multi-modal samples keep the modalities aligned."""
import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose, RandomFlip, Resize
from mmdet.structures import ReIDDataSample

from featsel.datasets.transforms import (LoadMultiModalImages,
                                         PackMultiModalReIDInputs,
                                         RandomErasing, RandomPadCrop)
from featsel.utils import ConfigError, DataError

M = 3


def _stacked(seed=0, h=32, w=16, high=100):
    """One random (h, w, 3) image repeated for M modalities: any transform
    that treats the modalities alike keeps the three blocks equal."""
    base = np.random.default_rng(seed).integers(0, high, (h, w, 3), np.uint8)
    return np.concatenate([base] * M, axis=2)


def _blocks(img):
    return [img[..., 3 * m:3 * m + 3] for m in range(img.shape[2] // 3)]


def _aligned(img):
    first, *rest = _blocks(img)
    return all(np.array_equal(first, b) for b in rest)


def test_load_stacks_modalities_in_order_and_aligns_sizes(tmp_path):
    rgb = np.zeros((20, 10, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB order
    paths = dict(RGB=tmp_path / 'rgb.png', NI=tmp_path / 'ni.png')
    cv2.imwrite(str(paths['RGB']), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    # a NI image of another size is resized to the first modality's
    cv2.imwrite(str(paths['NI']), np.full((40, 20, 3), 90, np.uint8))
    results = dict(img_paths={k: str(v) for k, v in paths.items()},
                   modalities=('RGB', 'NI'))
    out = LoadMultiModalImages()(dict(results))
    assert out['img'].shape == (20, 10, 6) and out['img'].dtype == np.uint8
    assert out['img_shape'] == out['ori_shape'] == (20, 10)
    assert out['img'][0, 0].tolist() == [200, 0, 0, 90, 90, 90]
    bgr = LoadMultiModalImages(channel_order='bgr')(dict(results))['img']
    assert bgr[0, 0, :3].tolist() == [0, 0, 200]


def test_load_names_a_missing_or_broken_file(tmp_path):
    good = tmp_path / 'a.png'
    cv2.imwrite(str(good), np.zeros((4, 4, 3), np.uint8))
    broken = tmp_path / 'b.jpg'
    broken.write_bytes(b'not an image')
    load = LoadMultiModalImages()
    for bad, match in ((tmp_path / 'gone.jpg', 'does not exist'),
                       (broken, 'cannot read image')):
        results = dict(img_paths=dict(RGB=str(good), TI=str(bad)),
                       modalities=('RGB', 'TI'))
        with pytest.raises(DataError, match=match) as err:
            load(results)
        assert str(bad) in str(err.value)
    with pytest.raises(ConfigError, match='channel_order'):
        LoadMultiModalImages(channel_order='rgba')


@pytest.mark.parametrize('interpolation', ['bilinear', 'bicubic', 'area'])
def test_mmcv_resize_of_the_stack_equals_resizing_each_modality(
        interpolation):
    img = np.concatenate([
        np.random.default_rng(m).integers(0, 256, (128, 64, 3), np.uint8)
        for m in range(M)
    ], 2)
    out = Resize(scale=(128, 256), keep_ratio=False,
                 interpolation=interpolation)(dict(img=img))['img']
    assert out.shape == (256, 128, 3 * M)
    for m, block in enumerate(_blocks(out)):
        single = np.ascontiguousarray(img[..., 3 * m:3 * m + 3])
        assert np.array_equal(
            block,
            mmcv.imresize(single, (128, 256), interpolation=interpolation))


def test_flip_and_pad_crop_move_every_modality_alike():
    np.random.seed(0)
    pipeline = Compose([
        RandomFlip(prob=0.5, direction='horizontal'),
        RandomPadCrop(padding=6)
    ])
    flips, shifts = set(), set()
    for seed in range(20):
        img = _stacked(seed)
        out = pipeline(dict(img=img.copy()))
        assert out['img'].shape == img.shape
        assert _aligned(out['img'])
        flips.add(out['flip'])
        # recover the shift of the first block: zero border + shifted image
        ref = img[:, ::-1] if out['flip'] else img
        padded = np.pad(ref[..., :3], ((6, 6), (6, 6), (0, 0)))
        found = [(dy, dx) for dy in range(13) for dx in range(13)
                 if np.array_equal(padded[dy:dy + 32, dx:dx + 16],
                                   out['img'][..., :3])]
        assert len(found) == 1
        shifts.add(found[0])
    assert flips == {True, False}
    assert len(shifts) > 10  # the shift is random


def test_pad_crop_fills_with_pad_val():
    np.random.seed(3)
    img = np.full((10, 10, 9), 50, np.uint8)
    out = RandomPadCrop(padding=4, pad_val=7)(dict(img=img))['img']
    values = set(np.unique(out).tolist())
    assert values <= {7, 50}
    with pytest.raises(ConfigError, match='padding'):
        RandomPadCrop(padding=-1)


def _erased(before, after):
    """(H, W) mask of changed pixels per modality block."""
    return [np.any(a != b, axis=2) for a, b in zip(_blocks(before),
                                                    _blocks(after))]


def test_erasing_hits_the_same_rectangle_on_every_modality():
    np.random.seed(0)
    mean = [[200, 210, 220], [230, 230, 230], [240, 240, 240]]
    erase = RandomErasing(mean=mean, std=[[5, 5, 5]] * M, prob=1.0)
    for seed in range(10):
        img = _stacked(seed, h=64, w=32)  # values < 100 never equal a fill
        out = erase(dict(img=img.copy()))['img']
        masks = _erased(img, out)
        assert masks[0].any()
        assert all(np.array_equal(masks[0], m) for m in masks[1:])
        ys, xs = np.nonzero(masks[0])
        # a full rectangle, area within the configured range
        h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
        assert masks[0].sum() == h * w
        # (rounding h and w moves the area by less than h + w)
        assert 0.02 * 64 * 32 - (h + w) <= h * w <= 64 * 32 / 3 + (h + w)
        # per-channel fill statistics: mean_c + std_c z
        inside = out[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        if h * w >= 100:
            got = inside.reshape(-1, 3 * M).mean(0)
            np.testing.assert_allclose(got, np.ravel(mean), atol=2.5)


def test_erasing_mean_fill_and_probability():
    np.random.seed(1)
    erase = RandomErasing(mean=[11, 22, 33], fill='mean', prob=0.3)
    hits = 0
    for seed in range(300):
        img = _stacked(seed, h=32, w=16, high=5)
        out = erase(dict(img=img.copy()))['img']
        mask = _erased(img, out)[0]
        if mask.any():
            hits += 1
            # one triple shared by all modalities
            assert set(map(tuple, out[mask].reshape(-1, 3).tolist())) == {
                (11, 22, 33)}
    assert 60 <= hits <= 120  # Binomial(300, 0.3): mean 90, sd 8


def test_erasing_bad_configuration():
    with pytest.raises(ConfigError, match='std is needed'):
        RandomErasing(mean=[1, 2, 3])
    with pytest.raises(ConfigError, match="'random' or 'mean'"):
        RandomErasing(mean=[1, 2, 3], fill='zero')
    with pytest.raises(ConfigError, match='mean must be'):
        RandomErasing(mean=[1, 2], fill='mean')
    erase = RandomErasing(mean=[[1, 2, 3]] * 2, fill='mean', prob=0.0)
    with pytest.raises(DataError, match='9 channels.*2 mean/std'):
        erase(dict(img=np.zeros((8, 8, 9), np.uint8)))


def test_pack_gives_channels_first_inputs_and_meta():
    img = _stacked()
    results = dict(img=img, gt_label=np.int64(4), pid=107, camid=1,
                   modalities=('RGB', 'NI', 'TI'), is_query=True,
                   is_gallery=True, img_path='a.jpg',
                   img_paths=dict(RGB='a.jpg'), img_shape=(32, 16),
                   ori_shape=(32, 16), unrelated=1)
    packed = PackMultiModalReIDInputs()(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3 * M, 32, 16)
    assert torch.equal(inputs[4], torch.from_numpy(img[..., 4]))
    assert isinstance(sample, ReIDDataSample)
    assert sample.gt_label.label.tolist() == [4]
    assert sample.pid == 107 and sample.modalities == ('RGB', 'NI', 'TI')
    assert 'unrelated' not in sample.metainfo
    assert 'sceneid' not in sample.metainfo  # absent keys are skipped
    with pytest.raises(DataError, match='gt_label'):
        PackMultiModalReIDInputs()(dict(img=img, img_path='a.jpg'))
