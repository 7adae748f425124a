import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from featsel.datasets import PairedRestorationDataset
from featsel.datasets.transforms import (LoadPairedImages,
                                         PackRestorationInputs,
                                         PairedRandomCrop,
                                         PairedRandomFlipRot)
from featsel.utils import ConfigError, DataError


def _coded_pair(h=20, w=30):
    """``lq`` whose pixels encode their (y, x), and ``gt = 255 - lq``: any
    mismatch between the two shows as ``lq + gt != 255``."""
    yy, xx = np.mgrid[:h, :w]
    lq = np.stack([yy, xx, (yy + xx) % 7], -1).astype(np.uint8)
    return lq, 255 - lq


def _results(h=20, w=30):
    lq, gt = _coded_pair(h, w)
    return dict(img=lq, gt_img=gt, img_shape=(h, w), ori_shape=(h, w),
                lq_path='lq.png')


def test_load_reads_rgb_and_checks_sizes(tmp_path):
    lq, gt = _coded_pair()
    for name, img in (('lq.png', lq), ('gt.png', gt),
                      ('small.png', gt[:10])):
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(img,
                                                       cv2.COLOR_RGB2BGR))
    load = LoadPairedImages()
    out = load(dict(lq_path=str(tmp_path / 'lq.png'),
                    gt_path=str(tmp_path / 'gt.png')))
    np.testing.assert_array_equal(out['img'], lq)
    np.testing.assert_array_equal(out['gt_img'], gt)
    assert out['img_shape'] == out['ori_shape'] == (20, 30)
    alone = load(dict(lq_path=str(tmp_path / 'lq.png')))
    assert 'gt_img' not in alone
    with pytest.raises(DataError, match=r'target ".*small.png" is \(10, 30\)'
                       r' but its degraded image ".*lq.png" is \(20, 30\)'):
        load(dict(lq_path=str(tmp_path / 'lq.png'),
                  gt_path=str(tmp_path / 'small.png')))
    with pytest.raises(DataError, match='"nope.png" does not exist'):
        load(dict(lq_path='nope.png'))


def test_crop_keeps_the_pair_aligned():
    crop = PairedRandomCrop((8, 12))
    np.random.seed(0)
    corners = set()
    for _ in range(20):
        out = crop(_results())
        lq, gt = out['img'], out['gt_img']
        assert lq.shape == gt.shape == (8, 12, 3)
        assert out['img_shape'] == (8, 12) and out['ori_shape'] == (20, 30)
        assert (lq.astype(int) + gt == 255).all()
        # a contiguous window of the source: rows and columns step by 1
        top, left = int(lq[0, 0, 0]), int(lq[0, 0, 1])
        np.testing.assert_array_equal(lq, _coded_pair()[0][top:top + 8,
                                                           left:left + 12])
        corners.add((top, left))
    assert len(corners) > 10
    with pytest.raises(DataError, match=r'"lq.png" is 20x30, smaller than '
                       r'the crop 24x12'):
        PairedRandomCrop((24, 12))(_results())
    with pytest.raises(ConfigError, match='crop_size'):
        PairedRandomCrop(0)


@pytest.mark.parametrize('op, expect', [
    (dict(hflip_prob=1), lambda a: a[:, ::-1]),
    (dict(hflip_prob=0, vflip_prob=1), lambda a: a[::-1]),
    (dict(hflip_prob=0, rot90_prob=1), np.rot90),
    (dict(hflip_prob=1, vflip_prob=1, rot90_prob=1),
     lambda a: np.rot90(a[::-1, ::-1])),
])
def test_flips_and_rotation_apply_to_both(op, expect):
    src = _results()
    out = PairedRandomFlipRot(**op)(dict(src))
    np.testing.assert_array_equal(out['img'], expect(src['img']))
    np.testing.assert_array_equal(out['gt_img'], expect(src['gt_img']))
    assert out['img_shape'] == out['img'].shape[:2]
    assert out['img'].flags['C_CONTIGUOUS']


def test_random_flips_keep_alignment_and_vary():
    aug = PairedRandomFlipRot(0.5, 0.5, 0.5)
    np.random.seed(1)
    seen = set()
    for _ in range(40):
        out = aug(_results())
        assert (out['img'].astype(int) + out['gt_img'] == 255).all()
        seen.add(out['img'].tobytes())
    assert len(seen) == 8  # all of the dihedral group
    with pytest.raises(ConfigError, match='rot90_prob'):
        PairedRandomFlipRot(rot90_prob=2)


def test_pack_format():
    src = _results()
    src.update(img_id='haze_001_0', task='dehaze', degradation='haze',
               severity=0.4, crop_border=4, tile_cfg=None, other='x')
    packed = PackRestorationInputs()(src)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 20, 30)
    np.testing.assert_array_equal(inputs.permute(1, 2, 0).numpy(),
                                  src['img'])
    assert sample.gt_img.dtype == torch.uint8
    np.testing.assert_array_equal(sample.gt_img.permute(1, 2, 0).numpy(),
                                  src['gt_img'])
    meta = sample.metainfo
    assert meta['img_id'] == 'haze_001_0' and meta['task'] == 'dehaze'
    assert meta['severity'] == 0.4 and meta['crop_border'] == 4
    assert meta['ori_shape'] == (20, 30) and 'other' not in meta
    del src['gt_img']
    assert 'gt_img' not in PackRestorationInputs()(src)['data_samples']


def _pipeline(size):
    return [dict(type='LoadPairedImages'),
            dict(type='PairedRandomCrop', crop_size=size),
            dict(type='PackRestorationInputs')]


def test_crop_size_reaches_running_workers(tiny_restoration_root):
    ds = PairedRestorationDataset(data_root=tiny_restoration_root,
                                  split='train', pipeline=_pipeline(16))
    loader = DataLoader(ds, batch_size=2, num_workers=1, shuffle=False,
                        persistent_workers=True, prefetch_factor=1,
                        collate_fn=pseudo_collate)
    batches = iter(loader)
    first = next(batches)
    assert {tuple(x.shape) for x in first['inputs']} == {(3, 16, 16)}
    ds.set_crop_size((24, 32))
    sizes = [{tuple(x.shape) for x in next(batches)['inputs']}
             for _ in range(3)]
    # one batch prefetched at the old size, then the new one
    assert sizes[-1] == {(3, 24, 32)}
    assert all(len(s) == 1 for s in sizes)


def test_one_crop_size_per_batch(tiny_restoration_root):
    ds = PairedRestorationDataset(data_root=tiny_restoration_root,
                                  split='train', pipeline=_pipeline(16))
    crop = ds.pipeline.transforms[1]
    original = crop.transform

    def change_midway(results):
        out = original(results)
        crop.set_crop_size(24)  # as if a hook fired during the batch
        return out

    crop.transform = change_midway
    batch = ds.__getitems__([0, 1, 2])
    assert [tuple(s['inputs'].shape) for s in batch] == [(3, 16, 16)] * 3
    assert ds[0]['inputs'].shape == (3, 24, 24)
    with pytest.raises(ConfigError, match='no transform with a settable '
                       'crop size'):
        PairedRestorationDataset(
            data_root=tiny_restoration_root,
            pipeline=[dict(type='LoadPairedImages')]).set_crop_size(8)


def test_pipeline_from_the_demo_set(tiny_restoration_root):
    ds = PairedRestorationDataset(
        data_root=tiny_restoration_root, split=['train', 'val'],
        pipeline=_pipeline(32)[:2] + [dict(type='PairedRandomFlipRot'),
                                      dict(type='PackRestorationInputs')])
    sample = ds[0]
    info = ds.get_data_info(0)
    meta = sample['data_samples'].metainfo
    assert meta['img_id'] == info['img_id'] and meta['task'] == info['task']
    assert meta['ori_shape'] == (48, 48) and meta['img_shape'] == (32, 32)
    assert osp.isfile(meta['lq_path']) and osp.isfile(meta['gt_path'])
