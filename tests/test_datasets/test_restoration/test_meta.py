import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from featsel.datasets.restoration import (META_FIELDS,
                                          PairedRestorationDataset,
                                          read_meta, write_meta)
from featsel.utils import ConfigError, DataError


def _line(**changes):
    record = dict(id='a', dataset='d', scene_id='s1', split='train',
                  path_raw='lq/a.png', path_gt='gt/a.png',
                  degradation='haze')
    record.update(changes)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


def _write(path, lines):
    path.write_text(''.join(line + '\n' for line in lines))
    return str(path)


def _images(root, names):
    for name in names:
        full = osp.join(root, name)
        os.makedirs(osp.dirname(full), exist_ok=True)
        cv2.imwrite(full, np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize('bad, message', [
    ('{"id": "b", ', r'line 3: not valid JSON'),
    ('[1, 2]', r'line 3: expected a JSON object, got list'),
    (_line(id='b', path_gt=...), r'line 3: missing required field "path_gt"'),
    (_line(id='b', mask='m.png'), r'line 3: unknown field "mask"'),
    (_line(id='b', severity=1.5), r'line 3: field "severity" must be a '
     r'number in \[0, 1\] or null, got 1.5'),
    (_line(id='b', w=0), r'line 3: field "w" must be a positive integer'),
    (_line(id='b', crop_border=True), r'line 3: field "crop_border"'),
    (_line(id='b', scene_id=7), r'line 3: field "scene_id" must be a '
     r'non-empty string, got 7'),
    (_line(id='b', tile_cfg=[512]), r'line 3: field "tile_cfg"'),
    (_line(), r'line 3: id "a" is already used on line 1'),
])
def test_bad_line_names_file_line_and_field(tmp_path, bad, message):
    meta = _write(tmp_path / 'meta.jsonl', [_line(), '', bad])
    with pytest.raises(DataError, match=message) as err:
        read_meta(meta)
    assert meta in str(err.value)


def test_defaults_blank_lines_and_round_trip(tmp_path):
    meta = _write(tmp_path / 'meta.jsonl', ['', _line(), _line(id='b',
                                                               severity=0.3)])
    records = read_meta(meta)
    assert [r['line'] for r in records] == [2, 3]
    first = records[0]
    assert first['crop_border'] == 0 and first['severity'] is None
    assert first['w'] is None and first['tile_cfg'] is None
    out = str(tmp_path / 'out.jsonl')
    write_meta(out, records)
    with open(out) as f:
        rows = [json.loads(line) for line in f]
    assert [list(r) for r in rows] == [list(META_FIELDS)] * 2
    assert [r['severity'] for r in rows] == [None, 0.3]
    again = read_meta(out)
    assert [{k: r[k] for k in META_FIELDS} for r in again] == \
        [{k: r[k] for k in META_FIELDS} for r in records]


def test_write_rejects_a_wrong_record(tmp_path):
    with pytest.raises(DataError, match='record 2 .*"split"'):
        write_meta(str(tmp_path / 'm.jsonl'),
                   [json.loads(_line()), json.loads(_line(id='b', split=''))])
    assert not (tmp_path / 'm.jsonl').exists()


def _set(tmp_path):
    """Six pairs: 3 scenes x (haze, rain); scene s3 is in test."""
    lines, names = [], []
    for i, (scene, split) in enumerate((('s1', 'train'), ('s2', 'val'),
                                        ('s3', 'test'))):
        for kind in ('haze', 'rain'):
            raw, gt = f'lq/{kind}_{i}.png', f'gt/{i}.png'
            lines.append(_line(id=f'{kind}_{i}', scene_id=scene, split=split,
                               path_raw=raw, path_gt=gt, degradation=kind,
                               severity=0.5))
            names += [raw, gt]
    _images(str(tmp_path), set(names))
    return _write(tmp_path / 'meta.jsonl', lines)


def test_dataset_filters_by_split_and_degradation(tmp_path):
    _set(tmp_path)
    ds = PairedRestorationDataset(data_root=str(tmp_path), split='train')
    assert sorted(d['img_id'] for d in ds) == ['haze_0', 'rain_0']
    ds = PairedRestorationDataset(data_root=str(tmp_path),
                                  split=['val', 'test'],
                                  degradations=['rain'])
    assert [d['img_id'] for d in ds] == ['rain_1', 'rain_2']
    info = ds.get_data_info(0)
    assert info['task'] == 'derain' and info['scene_id'] == 's2'
    assert info['lq_path'] == osp.join(str(tmp_path), 'lq', 'rain_1.png')
    assert info['gt_path'] == osp.join(str(tmp_path), 'gt', '1.png')
    assert info['meta_line'] == 4 and info['crop_border'] == 0
    assert ds.metainfo['tasks'] == ('derain', )
    everything = PairedRestorationDataset(data_root=str(tmp_path))
    assert len(everything) == 6
    assert everything.metainfo['tasks'] == ('dehaze', 'derain')


def test_paths_start_at_the_meta_folder_or_img_root(tmp_path):
    meta = _set(tmp_path)
    # the meta file in a sub-folder, the images at data_root
    sub = tmp_path / 'splits'
    sub.mkdir()
    (sub / 'meta.jsonl').write_text(open(meta).read())
    with pytest.raises(DataError, match=r'line 1: path_raw ".*splits/lq/'
                       r'haze_0.png" does not exist \(12 images are '
                       r'missing in all\)'):
        PairedRestorationDataset(data_root=str(tmp_path),
                                 ann_file='splits/meta.jsonl')
    ds = PairedRestorationDataset(data_root=str(tmp_path),
                                  ann_file='splits/meta.jsonl', img_root='')
    assert len(ds) == 6 and osp.isfile(ds.get_data_info(0)['lq_path'])


def test_missing_image_names_the_line(tmp_path):
    _set(tmp_path)
    (tmp_path / 'gt' / '1.png').unlink()
    with pytest.raises(DataError, match=r'meta.jsonl, line 3: path_gt '
                       r'".*gt/1.png" does not exist \(2 images'):
        PairedRestorationDataset(data_root=str(tmp_path))
    # a split without the missing file still builds
    assert len(PairedRestorationDataset(data_root=str(tmp_path),
                                        split='test')) == 2


def test_bad_selection_and_unknown_degradation(tmp_path):
    _set(tmp_path)
    with pytest.raises(DataError, match=r'is empty: no pair has split '
                       r"\('holdout',\).*\('train', 'haze'\)"):
        PairedRestorationDataset(data_root=str(tmp_path), split='holdout')
    with pytest.raises(ConfigError, match='"fog", which is not a key of '
                       'task_map'):
        PairedRestorationDataset(data_root=str(tmp_path),
                                 degradations=['fog'])
    with pytest.raises(DataError, match=r'line 1: degradation "haze" has no '
                       'task; task_map knows rain'):
        PairedRestorationDataset(data_root=str(tmp_path),
                                 task_map=dict(rain='derain'))
    with pytest.raises(DataError, match='meta file ".*nope.jsonl" does not '
                       'exist'):
        PairedRestorationDataset(data_root=str(tmp_path),
                                 ann_file='nope.jsonl')
