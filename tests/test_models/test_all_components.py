"""Every registered featsel component builds by its unprefixed name under
the featsel, mmseg and mmdet default scopes, from its documented example
(``<class>.example``), and runs forward on a tiny input.

The component lists come from ``list_components`` for every kind, so a new
or renamed component is picked up without touching this file.
"""
import pytest
import torch
from mmengine.registry import DefaultScope

import featsel.models  # noqa: F401  (registers the components)
from featsel.models import (Example, component_kinds, list_components,
                            set_progress)
from featsel.registry import LOSSES

SCOPES = ('featsel', 'mmseg', 'mmdet')
COMPONENTS = [(kind, name) for kind in component_kinds()
              for name in list_components(kind)]


def _registry(scope: str):
    """The MODELS registry a config of this default scope builds from."""
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    elif scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from featsel.registry import MODELS
    return MODELS


def _tensors(out):
    """Every tensor of a (nested) output."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in _tensors(item)]
    return []


def test_every_kind_has_components():
    assert {'selector', 'expert', 'gating', 'router', 'pruner', 'layer',
            'loss'} <= set(component_kinds())
    assert all(list_components(kind) for kind in component_kinds())


@pytest.mark.parametrize('kind,name', COMPONENTS)
def test_component_has_a_documented_example(kind, name):
    cls = LOSSES.get(name)
    assert isinstance(getattr(cls, 'example', None), Example), (
        f'{name} ({kind}) has no `example = Example(args, run)` attribute')


@pytest.mark.parametrize('scope', SCOPES)
@pytest.mark.parametrize('kind,name', COMPONENTS)
def test_builds_unprefixed_and_runs_under_every_scope(kind, name, scope):
    example = LOSSES.get(name).example
    with DefaultScope.overwrite_default_scope(scope):
        module = _registry(scope).build(dict(type=name, **example.args))
    assert type(module).__name__ == name
    torch.manual_seed(0)
    set_progress(module, epoch=0, iter=0, max_epochs=1, max_iters=1)
    out = example.run(module)
    tensors = _tensors(out)
    assert tensors, f'{name}.example.run returned no tensor'
    assert all(torch.isfinite(t.float()).all() for t in tensors)
    for value in getattr(module, 'aux_losses', dict)().values():
        assert torch.isfinite(value).all() and value.dim() == 0


def test_nested_regulariser_builds_under_mmseg_and_mmdet():
    """The case that used to fail with a KeyError outside featsel's scope."""
    cfg = dict(type='DepthwiseExpertSelector', tasks=['a'], in_channels=[4],
               orth_loss=dict(type='ExpertOrthogonalityLoss'))
    for scope in ('mmseg', 'mmdet'):
        with DefaultScope.overwrite_default_scope(scope):
            selector = _registry(scope).build(cfg)
        assert type(selector.blocks[0].orth_loss).__name__ == \
            'ExpertOrthogonalityLoss'
