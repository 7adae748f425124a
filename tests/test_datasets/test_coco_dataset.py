import json
import logging
import os

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from featsel.datasets import CheckedCocoDataset
from featsel.utils import DataError

CATEGORIES = [dict(id=1, name='cat'), dict(id=2, name='dog')]


def _coco(annotations):
    images = [dict(id=i, file_name=f'{i}.png', width=16, height=16)
              for i in (1, 2, 3)]
    return dict(images=images, annotations=annotations,
                categories=CATEGORIES)


def _ann(ann_id, img_id, cat_id, bbox):
    return dict(id=ann_id, image_id=img_id, category_id=cat_id, bbox=bbox,
                area=max(bbox[2] * bbox[3], 0), iscrowd=0)


GOOD = [_ann(1, 1, 1, [2, 2, 6, 6]), _ann(2, 2, 2, [1, 1, 8, 4])]
# an unknown category id, a zero-width box (twice), a box outside image 3
BAD = [_ann(3, 2, 99, [1, 1, 4, 4]), _ann(4, 2, 1, [3, 3, 0, 5]),
       _ann(5, 3, 2, [5, 5, 0, 0]), _ann(6, 3, 1, [20, 20, 4, 4])]


@pytest.fixture
def coco_root(tmp_path):
    os.mkdir(tmp_path / 'images')
    for i in (1, 2, 3):
        cv2.imwrite(str(tmp_path / 'images' / f'{i}.png'),
                    np.full((16, 16, 3), 40 * i, np.uint8))
    _write(tmp_path, _coco(GOOD + BAD))
    return tmp_path


def _write(root, coco):
    os.makedirs(root / 'annotations', exist_ok=True)
    (root / 'annotations' / 'train.json').write_text(json.dumps(coco))


def _build(root, **kwargs):
    from mmdet.registry import DATASETS
    cfg = dict(type='CheckedCocoDataset', data_root=str(root),
               ann_file='annotations/train.json',
               data_prefix=dict(img='images/'),
               metainfo=dict(classes=('cat', 'dog')),
               filter_cfg=dict(filter_empty_gt=False), pipeline=[])
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(cfg)


class _Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_dropped_annotations_are_counted_in_one_line(coco_root):
    records = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(records)
    try:
        dataset = _build(coco_root)
    finally:
        logger.removeHandler(records)
    assert isinstance(dataset, CheckedCocoDataset) and len(dataset) == 3
    assert [len(dataset.get_data_info(i)['instances'])
            for i in range(3)] == [1, 1, 0]
    lines = [line for line in records.lines if 'dropped' in line]
    assert len(lines) == 1
    line = lines[0]
    assert 'annotations/train.json' in line
    assert 'dropped 4 of 6 annotations' in line
    assert '2 with a zero-width or zero-height box' in line
    assert '1 with an unknown category_id [99]' in line
    assert '1 with a box outside its image' in line


def test_unconfigured_category_is_told_apart_from_unknown(coco_root):
    records = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(records)
    try:
        _build(coco_root, metainfo=dict(classes=('cat', )))
    finally:
        logger.removeHandler(records)
    line = next(line for line in records.lines if 'dropped' in line)
    assert '1 with a category not in metainfo.classes' in line


def test_clean_file_logs_nothing(coco_root):
    _write(coco_root, _coco(GOOD))
    records = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(records)
    try:
        _build(coco_root)
    finally:
        logger.removeHandler(records)
    assert not [line for line in records.lines if 'dropped' in line]


def test_classes_matching_no_category_fail_at_load(coco_root):
    with pytest.raises(DataError) as err:
        _build(coco_root, metainfo=dict(classes=('Car', 'Truck')))
    message = str(err.value)
    assert "('Car', 'Truck')" in message and "('cat', 'dog')" in message
    assert 'annotations/train.json' in message


def test_missing_root_and_ann_file(coco_root, tmp_path):
    with pytest.raises(DataError, match='data_root ".*nowhere" does not'):
        _build(tmp_path / 'nowhere')
    with pytest.raises(DataError, match='ann_file ".*other.json" does not'):
        _build(coco_root, ann_file='annotations/other.json')


def test_truncated_json_names_the_file(coco_root):
    path = coco_root / 'annotations' / 'train.json'
    text = path.read_text()
    path.write_text(text[:len(text) // 2])
    with pytest.raises(DataError) as err:
        _build(coco_root)
    assert str(path) in str(err.value) and 'not valid JSON' in str(err.value)


def test_json_that_is_not_coco_names_the_file(coco_root):
    path = coco_root / 'annotations' / 'train.json'
    path.write_text('[1, 2]')
    with pytest.raises(DataError, match='not a COCO annotation file'):
        _build(coco_root)


def test_missing_image_names_it_and_the_ann_file(coco_root):
    os.remove(coco_root / 'images' / '2.png')
    with pytest.raises(DataError) as err:
        _build(coco_root)
    message = str(err.value)
    assert '1 of 3 images' in message
    assert str(coco_root / 'images' / '2.png') in message
    assert str(coco_root / 'annotations' / 'train.json') in message


def test_no_image_left_says_why(coco_root):
    _write(coco_root, _coco([]))
    with pytest.raises(DataError) as err:
        _build(coco_root, filter_cfg=dict(filter_empty_gt=True))
    message = str(err.value)
    assert 'is empty' in message and 'filter_empty_gt=True' in message
    assert 'none of its 3 images' in message
    coco = _coco([])
    coco['images'] = []
    _write(coco_root, coco)
    with pytest.raises(DataError, match='is empty: it lists no image'):
        _build(coco_root)
