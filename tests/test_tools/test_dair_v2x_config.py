"""The DAIR-V2X config: it trains on converted data (converter, mosaic
pipeline switched off for the last epoch, CocoDataset with the class list
from the config, DSET-R50), mosaic keeps the test-time object scale, and the
pretrained backbone trains with a frozen stem and frozen BatchNorm."""
import glob
import json
import os
import os.path as osp
import random

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.test_tools.test_dairv2x_converter import TOOL, _make_tree
from tests.tool_runner import run_tool

CONFIG = 'configs/dset/dset_r50_dair_v2x.py'
SCALE = 64


def _hook_index(cfg, type_):
    types = [hook['type'] for hook in cfg.custom_hooks]
    return types.index(type_)


def test_dair_v2x_config_keeps_the_runtime_guards():
    """The config replaces ``custom_hooks``: it must still carry every
    hook of the detection runtime."""
    cfg = Config.fromfile(CONFIG)
    base = Config.fromfile('configs/_base_/det_runtime.py')
    types = {hook['type'] for hook in cfg.custom_hooks}
    assert {hook['type'] for hook in base.custom_hooks} <= types


SWITCH = _hook_index(Config.fromfile(CONFIG), 'PipelineSwitchHook')


def test_dair_v2x_config_trains_on_converted_data(tmp_path):
    root = _make_tree(str(tmp_path / 'cooperative-vehicle-infrastructure'))
    ann = osp.join(root, 'annotations')
    run_tool([TOOL, root, '--out-dir', ann, '--val-ratio', '0.4'])
    work_dir = str(tmp_path / 'work')
    scale = f'({SCALE},{SCALE})'
    options = [
        'train_cfg.max_epochs=2',
        'model.backbone.init_cfg=None',  # no checkpoint in the tests
        'model.num_queries=20',
        'model.test_cfg.max_per_img=20',
        'model.dn_cfg.group_cfg.num_dn_queries=10',
        f'train_dataloader.dataset.pipeline.0.img_scale={scale}',
        f'train_dataloader.dataset.pipeline.1.border=({-SCALE // 2},'
        f'{-SCALE // 2})',
        f'val_dataloader.dataset.pipeline.1.scale={scale}',
        f'custom_hooks.{SWITCH}.switch_epoch=1',
        f'custom_hooks.{SWITCH}.switch_pipeline.0.scale={scale}',
        f'train_dataloader.dataset.dataset.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'val_evaluator.ann_file={ann}/instances_val.json',
        'default_hooks.logger.interval=1',
    ]
    for split in ('train', 'val'):
        options += [f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
              '--cfg-options', *options])
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        metrics = json.load(f)['last']['metrics']
    assert 'coco/bbox_mAP' in metrics
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert 'neck.encoders.ffn.loss_balance' in log
    # mosaic in epoch 1, the plain pipeline from epoch 2 on
    first, switch = log.index('Epoch(train) [1]['), log.index(
        'Switch pipeline now!')
    assert first < switch < log.index('Epoch(train) [2][')


def _scale_tree(root, num_frames=8, size=(160, 90), box=20):
    """COCO set of wide images, each with four ``box`` x ``box`` objects."""
    os.makedirs(osp.join(root, 'img'))
    w, h = size
    images, anns = [], []
    for i in range(num_frames):
        name = f'img/{i:03d}.jpg'
        cv2.imwrite(osp.join(root, name),
                    np.full((h, w, 3), 40 * (i % 5), np.uint8))
        images.append(dict(id=i + 1, file_name=name, width=w, height=h))
        for j, (x, y) in enumerate([(10, 10), (60, 30), (110, 50),
                                    (30, 60)]):
            anns.append(dict(id=4 * i + j + 1, image_id=i + 1,
                             category_id=1 + j % 2, bbox=[x, y, box, box],
                             area=box * box, iscrowd=0))
    coco = dict(images=images, annotations=anns,
                categories=[dict(id=1, name='Car'), dict(id=2, name='Van')])
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump(coco, f)
    return root


def _mean_side(samples, rescale=False):
    """Mean sqrt(area) of the boxes of packed samples, in input pixels.

    Only whole objects count: every object is a square, so a box that is
    not square was cut by a mosaic or crop border. ``rescale``: the test
    pipeline loads boxes after the resize (they stay in original pixels for
    the metric), so scale them by the sample's ``scale_factor`` into the
    network's input.
    """
    sides = []
    for sample in samples:
        data = sample['data_samples']
        boxes = data.gt_instances.bboxes.tensor
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        area = (w * h)[(w - h).abs() < 0.02 * w.clamp(min=1)]
        if rescale:
            sx, sy = data.scale_factor
            area = area * sx * sy
        sides += area.clamp(min=0).sqrt().tolist()
    return float(np.mean(sides))


def _dataset_cfgs(root):
    cfg = Config.fromfile(CONFIG)
    scale = (SCALE, SCALE)
    train = cfg.train_dataloader.dataset
    train.dataset.update(data_root=root, ann_file='ann.json')
    train.pipeline[0].img_scale = scale
    train.pipeline[1].border = (-SCALE // 2, -SCALE // 2)
    stage2 = cfg.custom_hooks[-1].switch_pipeline
    stage2[0].scale = scale
    val = cfg.val_dataloader.dataset
    val.update(data_root=root, ann_file='ann.json')
    val.pipeline[1].scale = scale
    return train, stage2, val


def test_mosaic_trains_objects_at_their_test_scale(tmp_path):
    """Mean box side of mosaic training samples, of the last-epoch pipeline
    and of the test pipeline agree (a Resize after the 2x mosaic canvas made
    training boxes half the test size)."""
    from mmcv.transforms import Compose
    from mmdet.registry import DATASETS
    from mmengine.registry import DefaultScope
    root = _scale_tree(str(tmp_path / 'set'))
    train_cfg, stage2, val_cfg = _dataset_cfgs(root)
    random.seed(0)
    np.random.seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        train = DATASETS.build(train_cfg)
        val = DATASETS.build(val_cfg)
        mosaic = _mean_side(train[i % len(train)] for i in range(96))
        test = _mean_side((val[i] for i in range(len(val))), rescale=True)
        # what PipelineSwitchHook does at the switch epoch
        train.pipeline = Compose(stage2)
        last = [train[i] for i in range(len(train))]
    # 20 px boxes, 160x90 images fitted into 64x64: 8 px at test time
    assert test == pytest.approx(8.0, abs=0.05)
    assert 0.9 < mosaic / test < 1.1, (mosaic, test)
    assert _mean_side(last) == pytest.approx(test, rel=1e-3)
    assert all(s['inputs'].shape[-2:] == (36, 64) for s in last)


def test_pretrained_backbone_freezes_stem_and_batchnorm():
    from tests.test_models.det_helpers import build_detector, det_samples
    cfg = Config.fromfile(CONFIG).model
    cfg.backbone.init_cfg = None
    cfg.num_queries = 20
    cfg.test_cfg.max_per_img = 20
    cfg.dn_cfg.group_cfg.num_dn_queries = 10
    model = build_detector(cfg)
    model.train()
    backbone = model.backbone
    bns = [m for m in backbone.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and all(not m.training for m in bns)  # norm_eval
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    assert all(not p.requires_grad for p in backbone.stem.parameters())
    before = {k: v.clone() for k, v in backbone.state_dict().items()
              if 'running' in k or k.startswith('stem')}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(trainable, lr=0.1)
    torch.manual_seed(0)
    losses = model.loss(torch.randn(2, 3, 64, 64), det_samples([2, 1]))
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    optim.step()
    after = backbone.state_dict()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, msg=key)
    # the rest of the backbone does train
    assert backbone.layer1[0].conv1.weight.grad is not None
