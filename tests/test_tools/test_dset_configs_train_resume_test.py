"""Every S4 config trains, resumes and tests through the command-line tools
on the demo shapes set."""
import glob
import json
import os.path as osp

import pytest

from tests.test_models.det_helpers import DSET_CONFIGS
from tests.tool_runner import det_tiny_options, run_tool


@pytest.mark.parametrize('name', DSET_CONFIGS)
def test_config_trains_resumes_and_tests(name, demo_shapes_root, tmp_path):
    config = f'configs/dset/{name}.py'
    work_dir = str(tmp_path / name)
    run_tool(['tools/train.py', config, '--work-dir', work_dir,
              '--cfg-options', *det_tiny_options(demo_shapes_root, 1)])
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    run_tool(['tools/train.py', config, '--work-dir', work_dir, '--resume',
              '--cfg-options', *det_tiny_options(demo_shapes_root, 2)])
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    resumed = open(logs[-1]).read()
    assert 'resumed epoch: 1' in resumed.lower()
    assert 'Epoch(train) [2][' in resumed
    assert 'Epoch(train) [1][' not in resumed
    if 'prune' in name or name.startswith('dset'):
        # the schedule hook set the keep ratio at each epoch
        assert 'keep ratio at epoch 1' in resumed
    run_tool(['tools/test.py', config, osp.join(work_dir, 'epoch_2.pth'),
              '--work-dir', work_dir, '--out',
              osp.join(work_dir, 'results.pkl'), '--show-dir', 'vis',
              '--cfg-options',
              *det_tiny_options(demo_shapes_root, 2)])
    assert osp.isfile(osp.join(work_dir, 'results.pkl'))
    # ground truth | prediction pictures of the 4 validation images
    assert len(glob.glob(osp.join(work_dir, '*', 'vis', '*.png'))) == 4
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        report = json.load(f)
    # both evaluations of training are kept across the resume
    assert [h['epoch'] for h in report['history']] == [1, 2]
    assert 'coco/bbox_mAP' in report['last_test']
