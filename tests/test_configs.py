"""Every shipped config loads, builds through the registries and runs
forward, each in a fresh process (registration must not depend on what an
earlier test imported). Configs are found recursively: S1's experiments at
the ``configs/`` root, each new system under ``configs/<system>/``, and
projects' configs; ``_base_`` pieces are not experiments."""
import glob
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from tests.conftest import REPO_ROOT

MAX_BASE_LEVELS = 2


def _find_configs():
    found = glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                      recursive=True)
    found += glob.glob(osp.join(REPO_ROOT, 'projects', '*', 'configs', '**',
                                '*.py'), recursive=True)
    return sorted(c for c in found
                  if '_base_' not in osp.relpath(c, REPO_ROOT).split(osp.sep))


CONFIGS = _find_configs()
IDS = [osp.relpath(c, REPO_ROOT) for c in CONFIGS]

BUILD_AND_FORWARD = '''
import sys
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, MODELS
from mmengine.utils import import_modules_from_strings

cfg = Config.fromfile(sys.argv[1])
import_modules_from_strings(**cfg.custom_imports)
x = torch.rand(1, 3, 64, 64) * 255
with DefaultScope.overwrite_default_scope(cfg.default_scope):
    if cfg.default_scope == 'mmdet':
        from mmdet.structures import DetDataSample
        # 64x64 inputs hold 84 memory tokens: fewer queries than that
        cfg.model.num_queries = 20
        cfg.model.test_cfg.max_per_img = 20
        model = MODELS.build(cfg.model).eval()
        sample = DetDataSample(metainfo=dict(
            img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1., 1.)))
        data = model.data_preprocessor(
            dict(inputs=[x[0]], data_samples=[sample]), False)
        with torch.no_grad():
            cls, box = model(data['inputs'], data['data_samples'],
                             mode='tensor')
        print('det', tuple(cls.shape), tuple(box.shape))
    else:
        if cfg.model.type == 'MultiModalReID':
            # the modalities stacked on the channels, at the ViT's img_size
            # (the token selectors are built for its number of patches)
            h, w = cfg.model.backbone.img_size
            x = torch.rand(1, 3 * len(cfg.model.modalities), h, w) * 255
        if cfg.model.type == 'TaskAdaptedRestorer':
            x = x.to(torch.uint8)  # an image, as the pipeline packs it
        inputs = [x[0]]
        if cfg.model.type == 'UtilityRouterModel':
            # a MoE-I router reads a cached bottleneck vector (or the image)
            dims = cfg.model.router.get('in_dims') or 1
            inputs = dict(global_vec=torch.randn(1, dims), image=[x[0] / 255])
        model = MODELS.build(cfg.model).eval()
        data = model.data_preprocessor(dict(inputs=inputs), False)
        with torch.no_grad():
            out = model(data['inputs'], mode='tensor')
        if cfg.model.type == 'UtilityRouterModel':
            out = dict(logits=out)
        if isinstance(out, torch.Tensor):  # a restorer's restored images
            out = dict(restored=out)
        print(sorted((k, tuple(v.shape)) for k, v in out.items()))
'''


def _base_depth(path: str) -> int:
    """Levels of ``_base_`` inheritance above a config file."""
    bases = Config._get_base_files(path)  # mmengine's own parser
    if not bases:
        return 0
    return 1 + max(
        _base_depth(osp.join(osp.dirname(path), b)) for b in bases)


def test_configs_are_found():
    names = set(IDS)
    assert {'configs/baseline_multitask.py', 'configs/e6_patchgate.py',
            'configs/dset/dset_r50_dair_v2x.py',
            'projects/example_expert/configs/e3_lre_gated_expert.py'} <= names
    assert not any('_base_' in name for name in names)


@pytest.mark.parametrize('config', CONFIGS, ids=IDS)
def test_config_inherits_at_most_two_levels(config):
    assert _base_depth(config) <= MAX_BASE_LEVELS


@pytest.mark.parametrize('config', CONFIGS, ids=IDS)
def test_config_builds_and_runs_forward(config):
    proc = subprocess.run(
        [sys.executable, '-c', BUILD_AND_FORWARD, config], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if Config.fromfile(config).default_scope == 'mmdet':
        # (decoder layers, batch, queries, classes) and boxes
        num_layers = Config.fromfile(config).model.decoder.num_layers
        assert f'det ({num_layers}, 1, 20, ' in proc.stdout, proc.stdout
        assert f'({num_layers}, 1, 20, 4)' in proc.stdout
    elif Config.fromfile(config).model.type == 'MultiModalReID':
        # the global-token branch: a projected cls token per modality
        model = Config.fromfile(config).model
        width = len(model.modalities) * model.embed_dims
        assert f"('global', (1, {width}))" in proc.stdout, \
            proc.stdout
    elif Config.fromfile(config).model.type == 'TaskAdaptedRestorer':
        assert "('restored', (1, 3, 64, 64))" in proc.stdout, proc.stdout
    elif Config.fromfile(config).model.type == 'UtilityRouterModel':
        assert "('logits', (1, 3))" in proc.stdout, proc.stdout
    else:
        assert "('seg', (1, 1, 64, 64))" in proc.stdout
