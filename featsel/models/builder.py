"""Typed builders and discovery for the plug-in kinds."""
from typing import List, Type, Union

from torch import nn

from ..registry import (EXPERTS, GATINGS, LAYERS, LOSSES, PRUNERS, ROUTERS,
                        SELECTORS)
from .base import (BaseExpert, BaseGating, BaseLayer, BaseLoss, BasePruner,
                   BaseRouter, BaseSelector, BaseTokenSelector)

# kind -> (base class, registry alias); every alias is mmengine's root MODELS
_KINDS = {
    'selector': (BaseSelector, SELECTORS),
    'token_selector': (BaseTokenSelector, SELECTORS),
    'expert': (BaseExpert, EXPERTS),
    'gating': (BaseGating, GATINGS),
    'router': (BaseRouter, ROUTERS),
    'pruner': (BasePruner, PRUNERS),
    'layer': (BaseLayer, LAYERS),
    'loss': (BaseLoss, LOSSES),
}


def _build(kind: str, cfg: Union[dict, nn.Module],
           **default_args) -> nn.Module:
    base, registry = _KINDS[kind]
    module = cfg if isinstance(cfg, nn.Module) else registry.build(
        cfg, default_args=default_args or None)
    if not isinstance(module, base):
        raise TypeError(f'{type(module).__name__} is not a {kind}: a {kind} '
                        f'must subclass {base.__name__}')
    return module


def build_selector(cfg: Union[dict, nn.Module],
                   **default_args) -> BaseSelector:
    """Build a selector from a config dict (or pass a module through)."""
    return _build('selector', cfg, **default_args)


def build_token_selector(cfg: Union[dict, nn.Module],
                         **default_args) -> BaseTokenSelector:
    """Build a token selector (e.g. ``SDTPSSelector``) from a config dict
    (or pass a module through)."""
    return _build('token_selector', cfg, **default_args)


def build_expert(cfg: Union[dict, nn.Module], **default_args) -> BaseExpert:
    """Build an expert from a config dict (or pass a module through)."""
    return _build('expert', cfg, **default_args)


def build_gating(cfg: Union[dict, nn.Module], **default_args) -> BaseGating:
    """Build a gating from a config dict (or pass a module through)."""
    return _build('gating', cfg, **default_args)


def build_router(cfg: Union[dict, nn.Module], **default_args) -> BaseRouter:
    """Build a router from a config dict (or pass a module through)."""
    return _build('router', cfg, **default_args)


def build_pruner(cfg: Union[dict, nn.Module], **default_args) -> BasePruner:
    """Build a pruner from a config dict (or pass a module through)."""
    return _build('pruner', cfg, **default_args)


def build_layer(cfg: Union[dict, nn.Module], **default_args) -> BaseLayer:
    """Build a plug-in layer (e.g. ``MoEFFN``) from a config dict (or pass a
    module through)."""
    return _build('layer', cfg, **default_args)


def build_loss(cfg: Union[dict, nn.Module], **default_args) -> BaseLoss:
    """Build a loss or regulariser from a config dict (or pass a module
    through)."""
    return _build('loss', cfg, **default_args)


def list_components(kind: str) -> List[str]:
    """Names of all registered components of one kind, sorted.

    Args:
        kind (str): One of ``selector``, ``token_selector``, ``expert``,
            ``gating``, ``router``, ``pruner``, ``layer``, ``loss``.
    """
    if kind not in _KINDS:
        raise KeyError(f'unknown component kind "{kind}"; choose from '
                       f'{sorted(_KINDS)}')
    import featsel.models  # noqa: F401  (registers the built-in components)
    base, registry = _KINDS[kind]
    base: Type
    return sorted(name for name, cls in registry.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, base))


def component_kinds() -> List[str]:
    """The kinds :func:`list_components` knows, sorted."""
    return sorted(_KINDS)
