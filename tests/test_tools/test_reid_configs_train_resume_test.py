"""Every ReID config trains, resumes and tests through the command-line
tools, shrunk to seconds: a one-layer ViT on a tiny demo RGBNT201 set."""
import glob
import json
import os.path as osp
from typing import List

import pytest

from tests.tool_runner import run_tool

REID_CONFIGS = ['baseline_vit_tiny_demo', 'sdtps_vit_tiny_demo',
                'baseline_vit_b16_rgbnt201', 'sdtps_vit_b16_rgbnt201']


@pytest.fixture(scope='module')
def tiny_rgbnt201_root(tmp_path_factory) -> str:
    """4 training and 3 test identities, 2 cameras, 2 images each."""
    from featsel.datasets.reid.demo_rgbnt201 import write_demo_rgbnt201
    root = str(tmp_path_factory.mktemp('demo_rgbnt201') / 'set')
    return write_demo_rgbnt201(root, num_train_ids=4, num_test_ids=3,
                               num_cameras=2, images_per_camera=2, seed=0)


def reid_tiny_options(data_root: str, max_epochs: int) -> List[str]:
    """``--cfg-options`` that shrink a ReID config: a 1-layer, 32-wide
    ViT without pretrained weights, batches of 4 ids x 2 images."""
    opts = [
        f'train_cfg.max_epochs={max_epochs}',
        'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1',
        'model.init_cfg=None',
        'model.num_classes=4',
        'model.embed_dims=16',
        'model.backbone.embed_dims=32',
        'model.backbone.num_layers=1',
        'model.backbone.num_heads=2',
        'train_dataloader.sampler.num_identities=4',
        'train_dataloader.sampler.num_instances=2',
    ]
    for split in ('train', 'val', 'test'):
        opts += [
            f'{split}_dataloader.dataset.data_root={data_root}',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            f'{split}_dataloader.batch_size=8',
        ]
    return opts


@pytest.mark.parametrize('name', REID_CONFIGS)
def test_config_trains_resumes_and_tests(name, tiny_rgbnt201_root,
                                         tmp_path):
    config = f'configs/reid/{name}.py'
    work_dir = str(tmp_path / name)
    run_tool(['tools/train.py', config, '--work-dir', work_dir,
              '--cfg-options', *reid_tiny_options(tiny_rgbnt201_root, 1)])
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    run_tool(['tools/train.py', config, '--work-dir', work_dir, '--resume',
              '--cfg-options', *reid_tiny_options(tiny_rgbnt201_root, 2)])
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    resumed = open(logs[-1]).read()
    assert 'resumed epoch: 1' in resumed.lower()
    assert 'Epoch(train) [2][' in resumed
    assert 'Epoch(train) [1][' not in resumed
    assert 'mAP: ' in resumed and 'R1: ' in resumed
    run_tool(['tools/test.py', config, osp.join(work_dir, 'epoch_2.pth'),
              '--work-dir', work_dir, '--out',
              osp.join(work_dir, 'results.pkl'), '--show-dir', 'vis',
              '--cfg-options', *reid_tiny_options(tiny_rgbnt201_root, 2)])
    assert osp.isfile(osp.join(work_dir, 'results.pkl'))
    assert glob.glob(osp.join(work_dir, '*', 'vis', '**', '*.png'),
                     recursive=True)
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        report = json.load(f)
    # both evaluations of training are kept across the resume
    assert [h['epoch'] for h in report['history']] == [1, 2]
    assert 0.0 <= report['last_test']['mAP'] <= 100.0
    assert set(report['last_test']) >= {'mAP', 'R1', 'R5', 'R10', 'mINP'}
