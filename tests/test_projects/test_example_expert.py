"""The third-party example registers an expert and trains with our tools."""
import glob
import os.path as osp

import torch

from tests.tool_runner import run_tool, tiny_options

CONFIG = 'projects/example_expert/configs/e3_lre_gated_expert.py'


def test_gated_expert_is_an_expert_and_keeps_shape():
    from featsel.models import build_expert, list_components
    from projects.example_expert.example_expert import GatedDWExpert
    expert = build_expert(dict(type='GatedDWExpert'), channels=8)
    assert isinstance(expert, GatedDWExpert)
    assert 'GatedDWExpert' in list_components('expert')
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    expert(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_project_config_trains_with_featsel_tools(demo_root, tmp_path):
    work_dir = str(tmp_path / 'proj')
    proc = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                     '--cfg-options',
                     *tiny_options(demo_root, max_iters=2, interval=2)])
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert "type='GatedDWExpert'" in log
    assert proc.returncode == 0
