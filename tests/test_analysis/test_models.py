"""Building models of any default scope; deployment copies."""
import pytest
import torch

from featsel.analysis.models import (ModelSpec, build_model, count_params,
                                     deployed, params_by_module)
from tests.conftest import REPO_ROOT


def test_builds_featsel_and_mmdet_scoped_configs():
    s1 = build_model(ModelSpec(f'{REPO_ROOT}/configs/baseline_multitask.py',
                               {'model.encoder.base_channels': 4}))
    s4 = build_model(ModelSpec(f'{REPO_ROOT}/configs/dset/rtdetr_r18.py'))
    assert type(s1).__name__ == 'MultiTaskSegmentor'
    assert type(s4).__name__ == 'RTDETR'
    params = params_by_module(s1)
    assert params[''] == count_params(s1) == sum(
        params[name] for name, _ in s1.named_children() if name in params)


def test_missing_config_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        build_model(ModelSpec(str(tmp_path / 'nope.py')))


def test_deployed_copy_folds_repvgg_blocks_and_keeps_outputs():
    torch.manual_seed(0)
    model = build_model(ModelSpec(f'{REPO_ROOT}/configs/dset/rtdetr_r18.py'))
    neck = model.neck.eval()
    for m in neck.modules():  # BN statistics that fusion must fold
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    feats = [torch.randn(1, c, s, s) for c, s in ((128, 8), (256, 4),
                                                  (512, 2))]
    copy, switched = deployed(model)
    assert switched == 12  # 4 CSP layers x 3 RepVGG blocks
    assert count_params(copy) < count_params(model)
    with torch.no_grad():
        for a, b in zip(neck(feats), copy.neck(feats)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
