import json
import multiprocessing
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from featsel.datasets import demo_shapes_coco
from featsel.datasets.demo_shapes_coco import (DEMO_SHAPES_CATEGORIES,
                                               DEMO_SHAPES_CLASSES,
                                               ensure_demo_shapes_coco,
                                               make_demo_shapes_coco,
                                               make_sample, owner_boxes)
from featsel.utils import ConfigError, DataError

# seed 1 gives two images without objects in each split
TINY = dict(num_train=24, num_val=8, size=64, seed=1)
CAT_IDS = [cat_id for cat_id, _ in DEMO_SHAPES_CATEGORIES]


def _load(root, split):
    with open(osp.join(root, 'annotations', f'instances_{split}.json')) as f:
        return json.load(f)


def _read_tree(root):
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('shapes') / 'demo_shapes')
    return make_demo_shapes_coco(root, **TINY)


def test_layout_and_categories(shapes_root):
    train, val = _load(shapes_root, 'train'), _load(shapes_root, 'val')
    assert len(train['images']) == 24 and len(val['images']) == 8
    assert DEMO_SHAPES_CLASSES == ('square', 'disc', 'triangle', 'ring')
    for coco in (train, val):
        assert [c['id'] for c in coco['categories']] == [3, 7, 11, 20]
        assert [c['name'] for c in coco['categories']] == list(
            DEMO_SHAPES_CLASSES)
        for img in coco['images']:
            split = 'train' if coco is train else 'val'
            assert osp.isfile(osp.join(shapes_root, 'images', split,
                                       img['file_name']))
    # ids unique over both files, starting at 1
    img_ids = [i['id'] for c in (train, val) for i in c['images']]
    ann_ids = [a['id'] for c in (train, val) for a in c['annotations']]
    assert len(set(img_ids)) == len(img_ids) and min(img_ids) == 1
    assert len(set(ann_ids)) == len(ann_ids) and min(ann_ids) == 1
    for ann in train['annotations'] + val['annotations']:
        x, y, w, h = ann['bbox']
        assert ann['category_id'] in CAT_IDS and ann['iscrowd'] == 0
        assert x >= 0 and y >= 0 and w > 0 and h > 0
        assert x + w <= 64 and y + h <= 64
        assert 0 < ann['area'] <= w * h


def test_same_seed_same_bytes(shapes_root, tmp_path):
    again = make_demo_shapes_coco(str(tmp_path / 'again'), **TINY)
    assert _read_tree(again) == _read_tree(shapes_root)
    other = make_demo_shapes_coco(str(tmp_path / 'other'),
                                  **dict(TINY, seed=2))
    assert _load(other, 'train') != _load(shapes_root, 'train')


def test_val_does_not_depend_on_train_size(shapes_root, tmp_path):
    more = make_demo_shapes_coco(str(tmp_path / 'more'),
                                 **dict(TINY, num_train=30))
    old, new = _load(shapes_root, 'val'), _load(more, 'val')
    assert [a['bbox'] for a in old['annotations']] == [
        a['bbox'] for a in new['annotations']]


def test_boxes_are_tight_around_the_drawn_pixels(shapes_root):
    train = _load(shapes_root, 'train')
    for idx in range(4):
        rng = np.random.default_rng([TINY['seed'], 0, idx])
        img, labels, owner = make_sample(rng, TINY['size'])
        anns = [a for a in train['annotations']
                if a['image_id'] == train['images'][idx]['id']]
        assert [a['category_id'] for a in anns] == [CAT_IDS[k]
                                                    for k in labels]
        for k, ann in enumerate(anns):
            ys, xs = np.nonzero(owner == k)
            x, y, w, h = ann['bbox']
            assert (x, y) == (xs.min(), ys.min())
            assert (x + w - 1, y + h - 1) == (xs.max(), ys.max())
            assert ann['area'] == len(xs)
            # the object is visibly different from the background around
            inside = img[owner == k].astype(float).mean(0)
            assert np.abs(inside - img[owner == -1].mean(0)).max() > 10


def test_owner_boxes_of_a_known_map():
    owner = np.full((8, 8), -1, np.int16)
    owner[2:5, 1:7] = 0
    owner[6, 3] = 1
    assert owner_boxes(owner, 2) == [([1, 2, 6, 3], 18), ([3, 6, 1, 1], 1)]


def test_empty_images_and_object_counts():
    counts = []
    for idx in range(200):
        _, labels, _ = make_sample(np.random.default_rng([0, 0, idx]), 64)
        counts.append(len(labels))
    counts = np.array(counts)
    assert 0.01 < (counts == 0).mean() < 0.12
    assert counts.max() <= 6 and (counts >= 4).any()


def _ensure_in_child(root):
    ensure_demo_shapes_coco(root, **TINY)
    return sorted(os.listdir(osp.join(root, 'images', 'train')))


def test_concurrent_creation_leaves_one_valid_set(shapes_root, tmp_path):
    root = str(tmp_path / 'data' / 'demo_shapes')
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(4) as pool:
        listings = pool.map(_ensure_in_child, [root] * 4)
    assert all(names == listings[0] for names in listings)
    assert _read_tree(root) == _read_tree(shapes_root)
    # no temporary folder is left beside the set
    assert os.listdir(tmp_path / 'data') == ['demo_shapes']


def test_ensure_keeps_an_existing_set(shapes_root):
    before = os.stat(osp.join(shapes_root, demo_shapes_coco.SENTINEL))
    assert ensure_demo_shapes_coco(shapes_root, seed=5) == shapes_root
    after = os.stat(osp.join(shapes_root, demo_shapes_coco.SENTINEL))
    assert before.st_mtime_ns == after.st_mtime_ns


def test_make_keeps_or_overwrites_an_existing_set(tmp_path):
    root = str(tmp_path / 'set')
    make_demo_shapes_coco(root, **TINY)
    first = _load(root, 'train')
    make_demo_shapes_coco(root, **dict(TINY, seed=3))
    assert _load(root, 'train') == first
    make_demo_shapes_coco(root, overwrite=True, **dict(TINY, seed=3))
    assert _load(root, 'train') != first
    assert sorted(os.listdir(tmp_path)) == ['set']


def test_interrupted_creation_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_shapes_coco, '_write_split', fail)
    with pytest.raises(KeyboardInterrupt):
        make_demo_shapes_coco(str(tmp_path / 'set'), **TINY)
    assert os.listdir(tmp_path) == []


def test_foreign_folder_is_not_replaced(tmp_path):
    root = tmp_path / 'mine'
    root.mkdir()
    (root / 'notes.txt').write_text('keep me')
    with pytest.raises(DataError, match='instances_val.json'):
        ensure_demo_shapes_coco(str(root), **TINY)
    assert os.listdir(root) == ['notes.txt']
    assert sorted(os.listdir(tmp_path)) == ['mine']


def test_bad_size():
    with pytest.raises(ValueError, match='size'):
        make_demo_shapes_coco('unused', size=16)


PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs'),
]


def _build(data_root, split='train', **kwargs):
    from mmdet.registry import DATASETS
    cfg = dict(
        type='DemoShapesCocoDataset', data_root=data_root,
        ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=f'images/{split}/'),
        filter_cfg=dict(filter_empty_gt=False), pipeline=PIPELINE)
    cfg.update(kwargs)
    import featsel.datasets  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(cfg)


def test_dataset_maps_category_ids_to_labels(shapes_root):
    dataset = _build(shapes_root)
    train = _load(shapes_root, 'train')
    assert len(dataset) == len(train['images'])
    assert dataset.metainfo['classes'] == DEMO_SHAPES_CLASSES
    assert dataset.cat2label == {3: 0, 7: 1, 11: 2, 20: 3}
    seen_empty, seen_labels = False, set()
    for idx in range(len(dataset)):
        sample = dataset[idx]['data_samples']
        anns = [a for a in train['annotations']
                if a['image_id'] == sample.img_id]
        gt = sample.gt_instances
        expected = [CAT_IDS.index(a['category_id']) for a in anns]
        assert gt.labels.tolist() == expected
        boxes = [[x, y, x + w, y + h] for x, y, w, h in
                 (a['bbox'] for a in anns)]
        assert torch.allclose(gt.bboxes.tensor.reshape(-1, 4),
                              torch.tensor(boxes).reshape(-1, 4).float())
        seen_empty |= not anns
        seen_labels |= set(expected)
    assert seen_empty, 'the tiny set should hold an image without objects'
    assert seen_labels == {0, 1, 2, 3}
    # mmdet drops the empty images only when asked to
    assert len(_build(shapes_root,
                      filter_cfg=dict(filter_empty_gt=True))) < len(dataset)


def test_dataset_writes_the_set_on_first_use(tmp_path, monkeypatch):
    small = dict(num_train=6, num_val=2, size=48)
    monkeypatch.chdir(tmp_path)
    # at the default root
    assert len(_build('data/demo_shapes/', demo_cfg=small)) == 6
    assert osp.isfile('data/demo_shapes/annotations/instances_val.json')
    # elsewhere only when asked
    root = str(tmp_path / 'first_use')
    with pytest.raises(DataError, match='create_demo=True') as err:
        _build(root, demo_cfg=small)
    assert root in str(err.value) and not osp.exists(root)
    assert len(_build(root, demo_cfg=small, create_demo=True)) == 6
    with pytest.raises(ConfigError, match='demo_cfg.sise'):
        _build(str(tmp_path / 'x'), demo_cfg=dict(sise=48))


def test_coco_metric_scores_the_ground_truth_as_perfect(shapes_root):
    from mmdet.registry import METRICS
    dataset = _build(shapes_root, split='val', test_mode=True)
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = METRICS.build(dict(
            type='CocoMetric', metric='bbox',
            ann_file=osp.join(shapes_root,
                              'annotations/instances_val.json')))
    metric.dataset_meta = dataset.metainfo
    samples = []
    for idx in range(len(dataset)):
        sample = dataset[idx]['data_samples']
        gt = sample.gt_instances
        samples.append(dict(
            img_id=sample.img_id, ori_shape=sample.ori_shape,
            pred_instances=dict(
                bboxes=gt.bboxes.tensor, labels=gt.labels,
                scores=torch.ones(len(gt.labels)))))
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    assert results['coco/bbox_mAP_50'] == pytest.approx(1.0)
    assert results['coco/bbox_mAP'] == pytest.approx(1.0)
