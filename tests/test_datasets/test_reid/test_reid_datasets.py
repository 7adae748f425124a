"""The multi-modal ReID data sets read the public layouts and fail clearly."""
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from featsel.datasets import (MSVR310Dataset, RGBNT100Dataset,
                              RGBNT201Dataset)
from featsel.datasets.transforms import LoadMultiModalImages
from featsel.registry import DATASETS
from featsel.utils import ConfigError, DataError

# Grey level written into each modality's files, to check what is read.
LEVEL = dict(RGB=40, NI=120, TI=200)
TRAIN_NAMES = ('000107_cam1_0_00.jpg', '000107_cam3_0_01.jpg',
               '000012_cam2_1_00.jpg', '000550_cam4_0_00.jpg')
TEST_NAMES = ('000900_cam1_00.jpg', '000900_cam2_00.jpg',
              '000033_cam1_00.jpg')


def _write(path, level, size=(16, 8)):
    img = np.full(size + (3, ), level, np.uint8)
    assert cv2.imwrite(str(path), img)


def _rgbnt201(root, train=TRAIN_NAMES, test=TEST_NAMES):
    """A tiny RGBNT201 layout; returns its root."""
    for split, names in (('train_171', train), ('test', test)):
        for m, level in LEVEL.items():
            folder = root / split / m
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                _write(folder / name, level)
    return root


def test_rgbnt201_parses_names_and_numbers_identities(tmp_path):
    init_default_scope('featsel')
    ds = DATASETS.build(
        dict(type='RGBNT201Dataset', data_root=str(_rgbnt201(tmp_path))))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    # sorted by name; pids 12 < 107 < 550 -> labels 0, 1, 2
    assert [(i['pid'], i['camid'], i['gt_label']) for i in infos] == [
        (12, 1, 0), (107, 0, 1), (107, 2, 1), (550, 3, 2)]
    assert ds.metainfo['num_classes'] == 3
    assert ds.metainfo['modalities'] == ('RGB', 'NI', 'TI')
    first = infos[0]
    assert list(first['img_paths']) == ['RGB', 'NI', 'TI']
    assert first['img_paths']['TI'] == osp.join(
        str(tmp_path), 'train_171', 'TI', '000012_cam2_1_00.jpg')
    assert first['img_path'] == first['img_paths']['RGB']
    assert not first['is_query'] and not first['is_gallery']


def test_rgbnt201_test_split_is_query_and_gallery(tmp_path):
    ds = RGBNT201Dataset(str(_rgbnt201(tmp_path)), split='test')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    # raw ids as labels
    assert [i['gt_label'] for i in infos] == [33, 900, 900]
    assert all(i['is_query'] and i['is_gallery'] for i in infos)
    assert ds.metainfo['num_classes'] == 2


def test_modality_subset_in_any_order(tmp_path):
    root = _rgbnt201(tmp_path)
    # a subset needs only its own folders
    for name in TRAIN_NAMES:
        (root / 'train_171' / 'NI' / name).unlink()
    ds = RGBNT201Dataset(str(root), modalities=('TI', 'RGB'))
    info = ds.get_data_info(0)
    assert list(info['img_paths']) == ['TI', 'RGB']
    assert info['img_path'] == info['img_paths']['TI']
    assert ds.metainfo['modalities'] == ('TI', 'RGB')
    img = LoadMultiModalImages()(dict(info))['img']
    assert img.shape == (16, 8, 6)
    assert np.abs(img[..., :3].astype(int) - LEVEL['TI']).max() <= 2
    assert np.abs(img[..., 3:].astype(int) - LEVEL['RGB']).max() <= 2
    rgb_only = RGBNT201Dataset(str(root), modalities='RGB')
    assert rgb_only.metainfo['modalities'] == ('RGB', )


def test_missing_modality_file_names_the_file(tmp_path):
    root = _rgbnt201(tmp_path)
    missing = root / 'train_171' / 'NI' / TRAIN_NAMES[1]
    missing.unlink()
    with pytest.raises(DataError) as err:
        RGBNT201Dataset(str(root))
    assert f'"{missing}" does not exist' in str(err.value)
    assert '1 such files missing' in str(err.value)


def test_missing_modality_folder_names_the_folder(tmp_path):
    root = _rgbnt201(tmp_path)
    folder = root / 'test' / 'TI'
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    with pytest.raises(DataError, match=f'TI modality folder "{folder}"'):
        RGBNT201Dataset(str(root), split='test')


def test_missing_split_folder_names_it(tmp_path):
    with pytest.raises(DataError) as err:
        RGBNT201Dataset(str(tmp_path / 'nowhere'))
    message = str(err.value)
    assert f'"{tmp_path / "nowhere" / "train_171"}" does not exist' in message
    assert 'create_demo=True' in message


def test_unparsable_name_names_the_file(tmp_path):
    root = _rgbnt201(tmp_path, train=TRAIN_NAMES + ('person7_cam1.jpg', ))
    with pytest.raises(DataError) as err:
        RGBNT201Dataset(str(root))
    assert str(root / 'train_171' / 'RGB' / 'person7_cam1.jpg') in str(
        err.value)
    assert 'PPPPPP' not in str(err.value)  # the example, not a placeholder
    assert '000123_cam2_0_01.jpg' in str(err.value)


def test_bad_configuration(tmp_path):
    root = str(_rgbnt201(tmp_path))
    with pytest.raises(ConfigError, match="unknown: 'IR'"):
        RGBNT201Dataset(root, modalities=('RGB', 'IR'))
    with pytest.raises(ConfigError, match='non-empty'):
        RGBNT201Dataset(root, modalities=())
    with pytest.raises(ConfigError, match='repeats'):
        RGBNT201Dataset(root, modalities=('RGB', 'RGB'))
    with pytest.raises(ConfigError, match='unknown split "val"'):
        RGBNT201Dataset(root, split='val')
    with pytest.raises(ConfigError, match='demo_cfg is used only'):
        RGBNT201Dataset(root, demo_cfg=dict(seed=1))
    with pytest.raises(TypeError, match='ann_file'):
        RGBNT201Dataset(root, ann_file='x.txt')


def test_empty_split_is_an_error(tmp_path):
    root = _rgbnt201(tmp_path, test=())
    with pytest.raises(DataError, match='test split .* is empty'):
        RGBNT201Dataset(str(root), split='test')


def test_msvr310_layout_scene_and_roles(tmp_path):
    folders = dict(RGB='vis', NI='ni', TI='th')
    layout = dict(
        bounding_box_train=['0012_s003_v5_001.jpg', '0012_s004_v0_002.jpg',
                            '0200_s001_v2_000.jpg'],
        query3=['0031_s007_v1_000.jpg'],
        bounding_box_test=['0031_s007_v3_001.jpg', '0031_s002_v1_005.jpg'])
    for split, names in layout.items():
        for name in names:
            for m, sub in folders.items():
                folder = tmp_path / split / name[:4] / sub
                folder.mkdir(parents=True, exist_ok=True)
                _write(folder / name, LEVEL[m])
    train = MSVR310Dataset(str(tmp_path))
    infos = [train.get_data_info(i) for i in range(len(train))]
    assert [(i['pid'], i['sceneid'], i['camid'], i['gt_label'])
            for i in infos] == [(12, 3, 5, 0), (12, 4, 0, 0), (200, 1, 2, 1)]
    assert infos[0]['img_paths']['TI'] == str(
        tmp_path / 'bounding_box_train' / '0012' / 'th' /
        '0012_s003_v5_001.jpg')
    test = MSVR310Dataset(str(tmp_path), split='test')
    roles = [(test.get_data_info(i)['is_query'],
              test.get_data_info(i)['is_gallery']) for i in range(3)]
    assert roles == [(True, False), (False, True), (False, True)]


def test_rgbnt100_tiles_are_cut_per_modality(tmp_path):
    split = tmp_path / 'bounding_box_train'
    split.mkdir()
    img = np.concatenate(
        [np.full((8, 12, 3), LEVEL[m], np.uint8) for m in LEVEL], 1)
    cv2.imwrite(str(split / '0042_c3_0017.jpg'), img)
    ds = RGBNT100Dataset(str(tmp_path), modalities=('TI', 'NI'))
    info = ds.get_data_info(0)
    assert (info['pid'], info['camid'], info['gt_label']) == (42, 2, 0)
    assert info['img_tiles'] == dict(TI=(2, 3), NI=(1, 3))
    out = LoadMultiModalImages()(dict(info))['img']
    assert out.shape == (8, 12, 6)
    assert np.abs(out[..., :3].astype(int) - LEVEL['TI']).max() <= 3
    assert np.abs(out[..., 3:].astype(int) - LEVEL['NI']).max() <= 3
