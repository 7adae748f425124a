"""Typed builders and discovery for the plug-in kinds."""
from typing import List, Type, Union

from mmengine.registry import MODELS as ROOT_MODELS
from torch import nn

from ..registry import MODELS
from .base import (BaseExpert, BaseGating, BasePruner, BaseRouter,
                   BaseSelector)

_KINDS = {
    'selector': BaseSelector,
    'expert': BaseExpert,
    'gating': BaseGating,
    'router': BaseRouter,
    'pruner': BasePruner,
}


def _build(kind: str, cfg: Union[dict, nn.Module],
           **default_args) -> nn.Module:
    base = _KINDS[kind]
    module = cfg if isinstance(cfg, nn.Module) else MODELS.build(
        cfg, default_args=default_args or None)
    if not isinstance(module, base):
        raise TypeError(f'{type(module).__name__} is not a {kind}: a {kind} '
                        f'must subclass {base.__name__}')
    return module


def build_selector(cfg: Union[dict, nn.Module],
                   **default_args) -> BaseSelector:
    """Build a selector from a config dict (or pass a module through)."""
    return _build('selector', cfg, **default_args)


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


def list_components(kind: str) -> List[str]:
    """Names of all registered components of one kind, sorted.

    Args:
        kind (str): One of ``selector``, ``expert``, ``gating``, ``router``,
            ``pruner``.
    """
    if kind not in _KINDS:
        raise KeyError(f'unknown component kind "{kind}"; choose from '
                       f'{sorted(_KINDS)}')
    import featsel.models  # noqa: F401  (registers the built-in components)
    base: Type = _KINDS[kind]
    return sorted(name for name, cls in ROOT_MODELS.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, base))
