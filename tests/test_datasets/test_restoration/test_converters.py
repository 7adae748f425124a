import os
import os.path as osp

import cv2
import numpy as np
import pytest

from featsel.datasets.restoration.converters import (folder_pairs,
                                                     pair_records, rain100,
                                                     reside_sots,
                                                     scene_splits, snow100k)
from featsel.utils import ConfigError, DataError


def _touch(root, *names, size=(12, 16)):
    for name in names:
        path = osp.join(str(root), name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        value = sum(map(ord, name)) % 200
        cv2.imwrite(path, np.full(size + (3, ), value, np.uint8))


def _pairs(found):
    return sorted((osp.basename(p.raw), osp.basename(p.gt), p.scene)
                  for p in found.pairs)


def test_reside_sots_indoor_and_outdoor(tmp_path):
    _touch(tmp_path, 'indoor/hazy/1400_1.png', 'indoor/hazy/1400_10.png',
           'indoor/gt/1400.png', 'indoor/hazy/1401_1.png',
           'outdoor/hazy/0001_0.8_0.2.jpg', 'outdoor/clear/0001.png')
    found = reside_sots(str(tmp_path))
    assert _pairs(found) == [
        ('0001_0.8_0.2.jpg', '0001.png', 'SOTS-outdoor/0001'),
        ('1400_1.png', '1400.png', 'SOTS-indoor/1400'),
        ('1400_10.png', '1400.png', 'SOTS-indoor/1400')]
    assert [osp.basename(p) for p in found.unpaired] == ['1401_1.png']
    assert {p.degradation for p in found.pairs} == {'haze'}
    assert {p.dataset for p in found.pairs} == {'SOTS-indoor',
                                                'SOTS-outdoor'}
    with pytest.raises(DataError, match='holds hazy/ and gt/'):
        reside_sots(str(tmp_path / 'indoor' / 'gt'))


@pytest.mark.parametrize('raw, gt, scene', [
    # one folder
    ('Rain100L/rain-001.png', 'Rain100L/norain-001.png', 'Rain100L/1'),
    # degraded images in rainy/
    ('Rain100L/rainy/rain-001.png', 'Rain100L/norain-001.png', 'Rain100L/1'),
    # both named norain-<n>, in rain/ and norain/, under test/
    ('Rain100L/test/rain/norain-1.png', 'Rain100L/test/norain/norain-1.png',
     'Rain100L/test/1'),
])
def test_rain100_variants(tmp_path, raw, gt, scene):
    _touch(tmp_path, raw, gt, raw.replace('1.png', '2.png'))
    found = rain100(str(tmp_path / 'Rain100L'), 'Rain100L')
    assert [(p.raw, p.gt, p.scene) for p in found.pairs] == [
        (str(tmp_path / raw), str(tmp_path / gt), scene)]
    assert len(found.unpaired) == 1 and '/' not in found.pairs[0].key


def test_snow100k_subsets(tmp_path):
    _touch(tmp_path, 'Snow100K-training/all/synthetic/a_001.jpg',
           'Snow100K-training/all/gt/a_001.jpg',
           'Snow100K-training/all/mask/a_001.jpg',
           'Snow100K-testset/test/Snow100K-L/synthetic/b_002.jpg',
           'Snow100K-testset/test/Snow100K-L/gt/b_002.jpg')
    found = snow100k(str(tmp_path))
    assert _pairs(found) == [('a_001.jpg', 'a_001.jpg', 'Snow100K/a_001'),
                             ('b_002.jpg', 'b_002.jpg', 'Snow100K-L/b_002')]
    assert all('mask' not in p.gt for p in found.pairs)


def test_folder_pairs_with_a_scene_pattern(tmp_path):
    _touch(tmp_path, 'hazy/12_a.png', 'hazy/12_b.png', 'hazy/13_a.jpg',
           'hazy/sub/14_a.png', 'clear/12_a.png', 'clear/12_b.png',
           'clear/13_a.png', 'clear/sub/14_a.png', 'hazy/99_x.png')
    found = folder_pairs(str(tmp_path), 'haze', 'mine', 'hazy', 'clear',
                         scene_regex=r'^(\d+)_')
    assert [p.scene for p in found.pairs] == ['mine/12', 'mine/12',
                                              'mine/13', 'mine/14']
    assert [p.key for p in found.pairs] == ['12_a', '12_b', '13_a',
                                            'sub_14_a']
    assert len(found.unpaired) == 1
    with pytest.raises(ConfigError, match='has no group'):
        folder_pairs(str(tmp_path), 'haze', 'mine', 'hazy', 'clear',
                     scene_regex=r'\d+')
    with pytest.raises(DataError, match=r'target folder \(--gt-dir\)'):
        folder_pairs(str(tmp_path), 'haze', 'mine', 'hazy', 'gt')


def test_scene_splits_keep_scenes_whole():
    scenes = [f's{i // 3}' for i in range(60)]  # 20 scenes x 3 pairs
    splits = scene_splits(scenes, 0.2, 0.1, seed=1)
    counts = {k: sum(v == k for v in splits.values())
              for k in ('train', 'val', 'test')}
    assert counts == dict(train=14, val=4, test=2)
    assert scene_splits(scenes, 0.2, 0.1, seed=1) == splits
    assert scene_splits(scenes, 0.2, 0.1, seed=2) != splits
    with pytest.raises(ConfigError, match='sum to at most 1'):
        scene_splits(scenes, 0.6, 0.5)


def test_records_paths_sizes_and_quality(tmp_path):
    _touch(tmp_path, 'data/lq/a.png', 'data/gt/a.png', size=(12, 16))
    found = folder_pairs(str(tmp_path / 'data'), 'rain', 'mine')
    records = pair_records(found.pairs, str(tmp_path), {'mine/a': 'val'},
                           crop_border=2)
    (record, ) = records
    assert record['path_raw'] == 'data/lq/a.png'
    assert (record['w'], record['h']) == (16, 12)
    assert record['split'] == 'val' and record['crop_border'] == 2
    assert len(record['hash']) == 16 and 0 <= record['severity'] <= 1
    bare = pair_records(found.pairs, str(tmp_path), {'mine/a': 'val'},
                        quality=False)[0]
    assert bare['hash'] is None and bare['severity'] is None
    with pytest.raises(DataError, match='both get the id "mine_a"'):
        pair_records(found.pairs * 2, str(tmp_path), {'mine/a': 'val'},
                     quality=False)
