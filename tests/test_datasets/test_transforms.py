import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from scipy.ndimage import distance_transform_edt

from featsel.datasets.transforms import (GenerateBoundary, GenerateSDF,
                                         PackMultiTaskInputs)
from featsel.registry import TRANSFORMS
from featsel.utils import ConfigError


def _square(size=20, lo=5, hi=15):
    mask = np.zeros((size, size), np.uint8)
    mask[lo:hi, lo:hi] = 1
    return mask


def _results(mask):
    return dict(gt_seg_map=mask, seg_map_path='ann/case_7.png')


def test_registered():
    for name in ('GenerateSDF', 'GenerateBoundary', 'PackMultiTaskInputs'):
        assert TRANSFORMS.get(name) is not None


def test_sdf_matches_edt_and_sign():
    mask = _square()
    sdf = GenerateSDF(clip_distance=4.0)(_results(mask))['gt_sdf_map']
    expected = np.clip((distance_transform_edt(1 - mask) -
                        distance_transform_edt(mask)) / 4.0, -1, 1)
    assert sdf.dtype == np.float32 and sdf.shape == mask.shape
    np.testing.assert_allclose(sdf, expected, atol=1e-6)
    assert (sdf[mask == 1] < 0).all() and (sdf[mask == 0] > 0).all()
    # Zero crossing at the contour: the pixels either side are 1 px away.
    assert sdf[10, 5] == pytest.approx(-0.25)
    assert sdf[10, 4] == pytest.approx(0.25)
    # Clipped far away: the centre is 5 px inside, the corner far outside.
    assert sdf[10, 10] == -1 and sdf[0, 0] == 1


def test_sdf_unclipped_values():
    mask = _square()
    sdf = GenerateSDF(clip_distance=100.0)(_results(mask))['gt_sdf_map']
    assert sdf[10, 10] == pytest.approx(-5 / 100)
    assert sdf[0, 0] == pytest.approx(np.hypot(5, 5) / 100)


@pytest.mark.parametrize('fill,value', [(0, 1.0), (1, -1.0)])
def test_sdf_empty_and_full(fill, value):
    mask = np.full((6, 7), fill, np.uint8)
    sdf = GenerateSDF()(_results(mask))['gt_sdf_map']
    assert sdf.dtype == np.float32
    assert (sdf == value).all()


@pytest.mark.parametrize('width', [1, 2, 3])
def test_boundary_band_on_square(width):
    mask = _square()
    bnd = GenerateBoundary(width=width)(_results(mask))['gt_boundary_map']
    inner = np.zeros_like(mask)
    inner[5 + width:15 - width, 5 + width:15 - width] = 1
    assert bnd.dtype == np.uint8
    np.testing.assert_array_equal(bnd, mask - inner)
    assert bnd.sum() == 100 - (10 - 2 * width)**2


@pytest.mark.parametrize('fill', [0, 1])
def test_boundary_empty_and_full(fill):
    mask = np.full((6, 7), fill, np.uint8)
    bnd = GenerateBoundary()(_results(mask))['gt_boundary_map']
    assert bnd.shape == mask.shape and not bnd.any()


@pytest.mark.parametrize('transform', [GenerateSDF(), GenerateBoundary()])
def test_non_binary_mask_names_file_and_values(transform):
    mask = _square()
    mask[0, 0] = 255
    with pytest.raises(ValueError) as err:
        transform(_results(mask))
    assert 'ann/case_7.png' in str(err.value)
    assert '255' in str(err.value)


def _full_results():
    mask = _square(8, 2, 6)
    results = dict(
        img=np.random.default_rng(0).integers(0, 255, (8, 8, 3),
                                              dtype=np.uint8),
        img_path='img/case_7.png',
        ori_shape=(8, 8),
        **_results(mask))
    results = GenerateSDF()(results)
    return GenerateBoundary()(results)


THREE_TASKS = dict(seg='gt_seg_map', sdf='gt_sdf_map', bnd='gt_boundary_map')


def test_pack_needs_the_task_names():
    with pytest.raises(ConfigError, match='PackMultiTaskInputs.targets'):
        PackMultiTaskInputs(targets={})


def test_pack_fields_dtypes_and_meta():
    results = _full_results()
    packed = PackMultiTaskInputs(targets=THREE_TASKS)(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and tuple(inputs.shape) == (3, 8, 8)
    assert torch.equal(inputs, torch.from_numpy(results['img']).permute(2, 0,
                                                                        1))
    for task, dtype in (('seg', torch.long), ('sdf', torch.float32),
                        ('bnd', torch.long)):
        field = sample.get(f'gt_{task}')
        assert isinstance(field, PixelData)
        assert field.data.dtype == dtype and tuple(field.data.shape) == (1, 8,
                                                                         8)
    assert torch.equal(sample.gt_seg.data[0],
                       torch.from_numpy(results['gt_seg_map']).long())
    assert sample.img_path == 'img/case_7.png'
    assert sample.seg_map_path == 'ann/case_7.png'
    assert 'flip' not in sample.metainfo


def test_pack_custom_task_names():
    packed = PackMultiTaskInputs(targets=dict(
        lesion='gt_seg_map', dist='gt_sdf_map'))(_full_results())
    sample = packed['data_samples']
    assert 'gt_lesion' in sample and 'gt_dist' in sample
    assert 'gt_seg' not in sample and 'gt_bnd' not in sample


def test_pack_missing_key_names_task_and_producer():
    results = _full_results()
    del results['gt_boundary_map']
    with pytest.raises(ConfigError) as err:
        PackMultiTaskInputs(targets=THREE_TASKS)(results)
    msg = str(err.value)
    assert '"bnd"' in msg and 'gt_boundary_map' in msg
    assert 'GenerateBoundary' in msg
