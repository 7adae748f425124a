"""Every shipped config loads, builds through the registries and runs
forward, each in a fresh process (registration must not depend on what an
earlier test imported)."""
import glob
import os.path as osp
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs', '*.py')) +
    glob.glob(osp.join(REPO_ROOT, 'projects', '*', 'configs', '*.py')))

BUILD_AND_FORWARD = '''
import sys
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, MODELS
from mmengine.utils import import_modules_from_strings

cfg = Config.fromfile(sys.argv[1])
import_modules_from_strings(**cfg.custom_imports)
with DefaultScope.overwrite_default_scope(cfg.default_scope):
    model = MODELS.build(cfg.model)
    model.eval()
    x = torch.rand(1, 3, 64, 64) * 255
    data = model.data_preprocessor(dict(inputs=[x[0]]), False)
    with torch.no_grad():
        out = model(data['inputs'], mode='tensor')
print(sorted((k, tuple(v.shape)) for k, v in out.items()))
'''


def test_configs_are_found():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'baseline_multitask.py', 'e6_patchgate.py',
            'e3_lre_gated_expert.py'} <= names


@pytest.mark.parametrize('config', CONFIGS,
                         ids=[osp.relpath(c, REPO_ROOT) for c in CONFIGS])
def test_config_builds_and_runs_forward(config):
    proc = subprocess.run(
        [sys.executable, '-c', BUILD_AND_FORWARD, config], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "('seg', (1, 1, 64, 64))" in proc.stdout
