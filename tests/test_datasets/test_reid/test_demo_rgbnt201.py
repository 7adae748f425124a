"""The demo RGBNT201 set: its layout, its reader and what makes it a ReID
problem (identity on the figure, spread over the modalities)."""
import json
import os
import os.path as osp
import re
from collections import defaultdict

import numpy as np
from mmengine.registry import init_default_scope

from featsel.datasets import RGBNT201Dataset
from featsel.datasets.reid.demo_rgbnt201 import (HEIGHT, MODALITIES, WIDTH,
                                                 make_camera,
                                                 make_demo_rgbnt201,
                                                 make_identities,
                                                 render_sample)
from featsel.datasets.transforms import (LoadMultiModalImages,
                                         PackMultiModalReIDInputs)
from featsel.registry import DATASETS

SMALL = dict(num_train_ids=4, num_test_ids=3, num_cameras=3,
             images_per_camera=2, seed=0)


def _files(root):
    return {
        osp.relpath(osp.join(d, f), root): open(osp.join(d, f), 'rb').read()
        for d, _, names in os.walk(root) for f in names
    }


def test_dataset_writes_the_layout_and_reads_it(tmp_path):
    root = str(tmp_path / 'demo')
    init_default_scope('featsel')
    train = DATASETS.build(
        dict(type='RGBNT201Dataset', data_root=root, create_demo=True,
             demo_cfg=SMALL))
    meta = json.load(open(osp.join(root, 'demo_rgbnt201.json')))
    names = sorted(os.listdir(osp.join(root, 'train_171', 'RGB')))
    for split in ('train_171', 'test'):
        for m in MODALITIES:
            assert sorted(os.listdir(osp.join(root, split, m))) == sorted(
                os.listdir(osp.join(root, split, 'RGB')))
    cams = defaultdict(set)
    for name in names:
        match = re.fullmatch(r'(\d{6})_cam([1-3])_(\d{4})\.jpg', name)
        assert match
        cams[int(match[1])].add(int(match[2]))
    assert sorted(cams) == meta['pids']['train'] and len(cams) == 4
    assert all(len(c) >= 2 for c in cams.values())
    assert len(train) == len(names) == 2 * sum(len(c) for c in cams.values())
    assert train.metainfo['num_classes'] == 4
    test = RGBNT201Dataset(root, split='test', modalities=('NI', 'TI'))
    assert {test.get_data_info(i)['pid']
            for i in range(len(test))} == set(meta['pids']['test'])
    assert not set(meta['pids']['train']) & set(meta['pids']['test'])
    # the samples load and pack to (3M, 128, 64)
    results = LoadMultiModalImages()(dict(train.get_data_info(0)))
    packed = PackMultiModalReIDInputs()(results)
    assert packed['inputs'].shape == (9, HEIGHT, WIDTH)
    # NI and TI are grey, RGB is not
    img = results['img'].astype(int)
    assert np.abs(img[..., 3:6] - img[..., 3:4]).max() <= 6
    assert np.abs(img[..., 6:9] - img[..., 6:7]).max() <= 6
    assert np.abs(img[..., 0:3] - img[..., 0:1]).max() > 30


def test_same_arguments_same_bytes_and_train_ids_stable(tmp_path):
    for name, test_ids in (('a', 3), ('b', 3), ('c', 1)):
        os.makedirs(tmp_path / name)
        make_demo_rgbnt201(str(tmp_path / name),
                           **dict(SMALL, num_test_ids=test_ids))
    a, b = _files(tmp_path / 'a'), _files(tmp_path / 'b')
    assert a == b
    c = _files(tmp_path / 'c')
    train = {k: v for k, v in a.items() if k.startswith('train_171')}
    assert train == {k: v for k, v in c.items() if k.startswith('train_171')}


def test_default_root_is_written_on_first_use(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ds = RGBNT201Dataset(split='test', demo_cfg=dict(SMALL, num_cameras=2))
    assert osp.isfile(tmp_path / 'data' / 'demo_rgbnt201' /
                      'demo_rgbnt201.json')
    assert ds.metainfo['num_classes'] == 3


def _band_features(images, weight, channels):
    """L2-normalised mean of ``channels`` over ``weight`` in 4 horizontal
    bands: (N, 4 * len(channels))."""
    x, w = images[..., channels], weight[..., None].astype(np.float32)
    feats = [(x[:, rows] * w[:, rows]).sum((1, 2)) /
             (w[:, rows].sum((1, 2)) + 1e-6)
             for rows in np.array_split(np.arange(HEIGHT), 4)]
    f = np.concatenate(feats, 1)
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def _rank1(features, pids, cams):
    """Rank-1 under the Market-1501 protocol (same id and camera out)."""
    sim = features @ features.T
    hits = 0
    for q in range(len(pids)):
        keep = ~((pids == pids[q]) & (cams == cams[q]))
        hits += pids[keep][np.argmax(sim[q][keep])] == pids[q]
    return hits / len(pids)


def test_identity_lives_on_the_figure_and_across_modalities():
    """Hand-made colour features: on the figure they find the identity far
    better than over the whole image (clutter, backgrounds and light
    confuse the latter), and NI + TI add to RGB (the RGB twins)."""
    identities = make_identities(12, seed=0)
    cameras = [make_camera(np.random.default_rng([0, 2, c]), c)
               for c in range(3)]
    images, masks, pids, cams = [], [], [], []
    for j, ident in enumerate(identities):
        for c, style in enumerate(cameras):
            for k in range(2):
                imgs, visible = render_sample(
                    ident, style, np.random.default_rng([0, 1, j, c, k]))
                images.append(np.concatenate([imgs[m] for m in MODALITIES],
                                             2) / 255.0)
                masks.append(visible)
                pids.append(j)
                cams.append(c)
    images, masks = np.stack(images), np.stack(masks)
    pids, cams = np.array(pids), np.array(cams)
    # figure masks cover a real part of the image, but not all of it
    assert 0.15 < masks.mean() < 0.6
    everything = np.ones_like(masks)
    whole = _rank1(_band_features(images, everything, list(range(9))), pids,
                   cams)
    figure = _rank1(_band_features(images, masks, list(range(9))), pids,
                    cams)
    rgb = _rank1(_band_features(images, masks, [0, 1, 2]), pids, cams)
    fused = _rank1(
        np.concatenate([
            _band_features(images, masks, [0, 1, 2]),
            _band_features(images, masks, [3]),
            _band_features(images, masks, [6])
        ], 1), pids, cams)
    assert whole < 0.3  # chance is 1/12
    assert figure > whole + 0.4
    assert fused > rgb + 0.1


def test_config_pipeline_and_sampler_through_a_data_loader(tmp_path):
    """The DeMo-style training pipeline, written as a config, gives aligned
    P x K batches of (9, 256, 128) images."""
    from mmengine.runner import Runner
    init_default_scope('featsel')
    mean = [[123.7, 116.3, 103.5]] * 3
    std = [[58.4, 57.1, 57.4]] * 3
    pipeline = [
        dict(type='LoadMultiModalImages'),
        dict(type='Resize', scale=(128, 256), keep_ratio=False,
             interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomPadCrop', padding=10),
        dict(type='RandomErasing', prob=0.5, mean=mean, std=std),
        dict(type='PackMultiModalReIDInputs'),
    ]
    loader = Runner.build_dataloader(
        dict(
            batch_size=2 * 4,
            num_workers=0,
            sampler=dict(type='IdentityBalancedSampler', num_identities=2,
                         num_instances=4),
            collate_fn=dict(type='pseudo_collate'),
            dataset=dict(
                type='RGBNT201Dataset', data_root=str(tmp_path / 'demo'),
                create_demo=True, demo_cfg=SMALL, pipeline=pipeline)),
        seed=0)
    batches = list(loader)
    assert len(batches) == len(loader) >= 2
    for batch in batches:
        assert len(batch['inputs']) == 8
        assert all(x.shape == (9, 256, 128) for x in batch['inputs'])
        labels = [s.gt_label.label.item() for s in batch['data_samples']]
        assert labels[:4] == [labels[0]] * 4 and labels[4:] == [labels[4]] * 4
        assert labels[0] != labels[4]
        for s in batch['data_samples']:
            assert s.img_shape == (256, 128) and s.modalities == MODALITIES
