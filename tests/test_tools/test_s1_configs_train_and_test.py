"""Every S1 experiment trains and tests through the command-line tools."""
import json
import os.path as osp

import pytest

from tests.tool_runner import run_tool, tiny_options

S1_CONFIGS = ['baseline_multitask', 'e1_taskdw', 'e2_lre_free',
              'e3_lre_prior', 'e4_hybrid_high', 'e5_hybrid_midhigh',
              'e6_patchgate']


@pytest.mark.parametrize('name', S1_CONFIGS)
def test_config_trains_and_tests(name, demo_root, tmp_path):
    config = f'configs/{name}.py'
    work_dir = str(tmp_path / name)
    options = tiny_options(demo_root, max_iters=2, interval=2)
    run_tool(['tools/train.py', config, '--work-dir', work_dir,
              '--cfg-options', *options])
    run_tool(['tools/test.py', config, osp.join(work_dir, 'iter_2.pth'),
              '--work-dir', work_dir, '--cfg-options', *options])
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        report = json.load(f)
    assert report['last_test'] == report['last']['metrics']
