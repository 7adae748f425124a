"""Loading transforms (featsel/datasets/transforms/loading.py) and the
image/mask size check of PackMultiTaskInputs."""
import cv2
import numpy as np
import pytest

from featsel.datasets.transforms import (CheckedLoadAnnotations,
                                         CheckedLoadImageFromFile,
                                         PackMultiTaskInputs)
from featsel.utils import DataError


def _png(path, array):
    cv2.imwrite(str(path), array)
    return str(path)


def _image_results(path):
    return dict(img_path=str(path))


def _mask_results(path):
    return dict(seg_map_path=str(path), reduce_zero_label=False,
                seg_fields=[])


@pytest.fixture
def image(tmp_path):
    rng = np.random.default_rng(0)
    return _png(tmp_path / 'img.png',
                rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))


def test_good_image_loads(image):
    out = CheckedLoadImageFromFile()(_image_results(image))
    assert out['img'].shape == (32, 32, 3) and out['ori_shape'] == (32, 32)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('damage', ['truncated', 'garbage', 'empty'])
def test_broken_image_names_the_file(tmp_path, image, backend, damage):
    data = open(image, 'rb').read()
    broken = tmp_path / 'broken.png'
    broken.write_bytes(dict(truncated=data[:len(data) // 2],
                            garbage=b'not a png' * 20, empty=b'')[damage])
    with pytest.raises(DataError, match=f'cannot read image "{broken}"'):
        CheckedLoadImageFromFile(imdecode_backend=backend)(
            _image_results(broken))


def test_missing_image_names_the_file(tmp_path):
    gone = tmp_path / 'gone.png'
    with pytest.raises(DataError, match=f'image "{gone}" does not exist'):
        CheckedLoadImageFromFile()(_image_results(gone))


def test_grey_mask_saved_as_rgb_is_accepted(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3:7] = 1
    path = _png(tmp_path / 'rgb.png', np.repeat(mask[..., None], 3, 2))
    out = CheckedLoadAnnotations()(_mask_results(path))
    np.testing.assert_array_equal(out['gt_seg_map'], mask)


def test_colour_mask_names_the_file(tmp_path):
    mask = np.zeros((8, 8, 3), np.uint8)
    mask[2:5, 3:7, 0] = 1
    path = _png(tmp_path / 'colour.png', mask)
    with pytest.raises(DataError, match=f'mask "{path}" has 3 channels'):
        CheckedLoadAnnotations()(_mask_results(path))


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_garbage_or_missing_mask_names_the_file(tmp_path, backend):
    path = tmp_path / 'mask.png'
    path.write_bytes(b'\x89PNG garbage')
    load = CheckedLoadAnnotations(imdecode_backend=backend)
    with pytest.raises(DataError, match=f'cannot read mask "{path}"'):
        load(_mask_results(path))
    gone = tmp_path / 'gone.png'
    with pytest.raises(DataError, match=f'mask "{gone}" does not exist'):
        load(_mask_results(gone))


def test_mask_of_another_size_names_both_files(tmp_path, image):
    mask = _png(tmp_path / 'mask.png', np.zeros((48, 48), np.uint8))
    results = CheckedLoadImageFromFile()(_image_results(image))
    results.update(_mask_results(mask))
    results = CheckedLoadAnnotations()(results)
    with pytest.raises(DataError) as err:
        PackMultiTaskInputs(targets=dict(seg='gt_seg_map'))(results)
    message = str(err.value)
    assert image in message and mask in message
    assert '(48, 48)' in message and '(32, 32)' in message
