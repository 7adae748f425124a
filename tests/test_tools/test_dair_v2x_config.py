"""The DAIR-V2X config trains on converted data: converter, mosaic
pipeline, CocoDataset with the class list from the config, DSET-R50."""
import glob
import json
import os.path as osp

from tests.test_tools.test_dairv2x_converter import TOOL, _make_tree
from tests.tool_runner import run_tool


def test_dair_v2x_config_trains_on_converted_data(tmp_path):
    root = _make_tree(str(tmp_path / 'cooperative-vehicle-infrastructure'))
    ann = osp.join(root, 'annotations')
    run_tool([TOOL, root, '--out-dir', ann, '--val-ratio', '0.4'])
    work_dir = str(tmp_path / 'work')
    options = [
        'train_cfg.max_epochs=1',
        'model.backbone.init_cfg=None',  # no checkpoint in the tests
        'model.num_queries=20',
        'model.test_cfg.max_per_img=20',
        'model.dn_cfg.group_cfg.num_dn_queries=10',
        'train_dataloader.dataset.pipeline.0.img_scale=(64,64)',
        'train_dataloader.dataset.pipeline.1.scale=(64,64)',
        'val_dataloader.dataset.pipeline.1.scale=(64,64)',
        f'train_dataloader.dataset.dataset.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'val_evaluator.ann_file={ann}/instances_val.json',
        'default_hooks.logger.interval=1',
    ]
    for split in ('train', 'val'):
        options += [f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    run_tool(['tools/train.py', 'configs/dset/dset_r50_dair_v2x.py',
              '--work-dir', work_dir, '--cfg-options', *options])
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        metrics = json.load(f)['last']['metrics']
    assert 'coco/bbox_mAP' in metrics
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert 'Epoch(train) [1][' in log and 'enc_loss_balance' in log
