"""Registry layout and cross-library builds (mmdet, mmseg <-> featsel)."""
import logging
import subprocess
import sys

import pytest
import torch
from mmengine import DefaultScope
from mmengine.logging import MMLogger
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import root as mmengine_root

import featsel.registry as reg
from featsel.models import (BaseSelector, IdentitySelector, build_gating,
                            build_selector, list_components)
from tests.conftest import REPO_ROOT

ROOT_NODES = {name: obj for name, obj in vars(mmengine_root).items()
              if type(obj).__name__ == 'Registry'}


def test_every_mmengine_root_has_a_featsel_child():
    for name, root in ROOT_NODES.items():
        node = getattr(reg, name)
        assert node.parent is root, name
        assert node.scope == 'featsel', name


def test_plugin_kinds_are_the_root_models():
    for kind in ('SELECTORS', 'EXPERTS', 'GATINGS', 'ROUTERS', 'PRUNERS',
                 'LAYERS', 'LOSSES'):
        assert getattr(reg, kind) is ROOT_MODELS


@pytest.mark.parametrize('scope', [None, 'featsel', 'mmdet', 'mmseg'])
def test_plugins_build_unprefixed_under_every_scope(scope, caplog):
    import mmdet.registry  # noqa: F401
    import mmseg.registry  # noqa: F401
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    logger = MMLogger.get_current_instance()
    logger.propagate = True
    with caplog.at_level(logging.WARNING), \
            DefaultScope.overwrite_default_scope(scope):
        for registry in (ROOT_MODELS, reg.MODELS, DET_MODELS, SEG_MODELS):
            sel = registry.build(dict(type='IdentitySelector', tasks=['a'],
                                      in_channels=[4]))
            assert isinstance(sel, IdentitySelector)
    assert 'Failed to search registry' not in caplog.text


def test_typed_builders_reject_other_kinds():
    with pytest.raises(TypeError, match='PixelScaleGate is not a selector'):
        build_selector(dict(type='PixelScaleGate', num_experts=2,
                            channels=2))
    gate = build_gating(dict(type='PixelScaleGate'), num_experts=2,
                        channels=2)
    assert build_gating(gate) is gate


def test_list_components():
    assert 'IdentitySelector' in list_components('selector')
    assert {'ChannelDWScaleGate', 'PixelScaleGate'} <= set(
        list_components('gating'))
    with pytest.raises(KeyError, match='unknown component kind'):
        list_components('widget')


def test_featsel_component_inside_an_mmseg_model():
    """mmseg's EncoderDecoder with featsel's encoder, built in mmseg scope."""
    from mmseg.registry import MODELS as SEG_MODELS
    cfg = dict(
        type='EncoderDecoder',
        backbone=dict(type='featsel.UNetEncoder', base_channels=4,
                      num_stages=3),
        decode_head=dict(type='FCNHead', in_channels=4, in_index=0,
                         channels=4, num_convs=1, num_classes=2))
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = SEG_MODELS.build(cfg)
    assert type(model.backbone).__name__ == 'UNetEncoder'
    logits = model(torch.randn(1, 3, 16, 16), mode='tensor')
    assert logits.shape == (1, 2, 16, 16)


def test_mmdet_and_mmseg_parts_inside_a_featsel_model():
    from mmdet.models.losses import L1Loss
    from mmseg.models.decode_heads import FCNHead

    from tests.test_models.helpers import tiny_segmentor_cfg
    with DefaultScope.overwrite_default_scope('featsel'):
        model = reg.MODELS.build(tiny_segmentor_cfg())
    assert isinstance(model.heads['seg'], FCNHead)
    assert isinstance(model.task_losses['sdf'][0], L1Loss)


def test_prefixed_name_needs_no_import_in_a_fresh_process():
    code = ('from mmengine.registry import MODELS, DefaultScope\n'
            'with DefaultScope.overwrite_default_scope("mmdet"):\n'
            '    m = MODELS.build(dict(type="featsel.UNetEncoder", '
            'base_channels=2, num_stages=2))\n'
            'print(type(m).__name__)\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith('UNetEncoder')


def test_base_classes_carry_the_kind():
    assert issubclass(IdentitySelector, BaseSelector)
