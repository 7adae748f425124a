"""Configs and models for measurement: read a config, build its model.

The registry a model is built from follows the config's ``default_scope``:
``'featsel'`` (S1 and the featsel-native systems) builds from featsel's
``MODELS`` after :func:`featsel.utils.register_all_modules`; a host scope such
as ``'mmdet'`` (S4) imports the config's ``custom_imports`` and builds from
that host's registry, exactly as the runner would.
"""
import copy
import importlib
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What a model is built from: a config file and the ``--cfg-options``
    merged into it."""

    config: str
    cfg_options: Optional[Mapping] = None

    @property
    def name(self) -> str:
        """The config's file name without ``.py``."""
        return osp.splitext(osp.basename(self.config))[0]


def load_config(spec: ModelSpec) -> Config:
    """Read ``spec.config`` and merge ``spec.cfg_options`` into it.

    Raises:
        FileNotFoundError: The config file does not exist (named).
    """
    if not osp.isfile(spec.config):
        raise FileNotFoundError(f'config file "{spec.config}" does not exist')
    cfg = Config.fromfile(spec.config)
    if spec.cfg_options:
        cfg.merge_from_dict(dict(spec.cfg_options))
    return cfg


def build_model(spec: ModelSpec, device: str = 'cpu',
                seed: int = 0) -> nn.Module:
    """Build ``cfg.model`` of a config on ``device``, in train mode.

    The weights keep their construction-time values (``init_weights`` is
    not called): cost does not depend on them.

    Args:
        spec (ModelSpec): Config file and overrides.
        device (str): ``'cpu'`` or ``'cuda'``.
        seed (int): Seed of the random weights.
    """
    cfg = load_config(spec)
    scope = cfg.get('default_scope', 'featsel')
    if scope == 'featsel':
        from featsel.registry import MODELS
        from featsel.utils import register_all_modules
        register_all_modules()
    else:
        for module in cfg.get('custom_imports', {}).get('imports', []):
            importlib.import_module(module)
        # the host's MODELS: e.g. mmdet.registry for default_scope='mmdet'
        MODELS = importlib.import_module(f'{scope}.registry').MODELS
        init_default_scope(scope)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    return model.to(device)


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared ones once)."""
    return sum(p.numel() for p in model.parameters())


def params_by_module(model: nn.Module) -> Dict[str, int]:
    """Parameters per module name, children included (``''``: all)."""
    counts: Dict[str, int] = {}
    for name, param in model.named_parameters():
        parts = name.split('.')[:-1]
        for depth in range(len(parts) + 1):
            key = '.'.join(parts[:depth])
            counts[key] = counts.get(key, 0) + param.numel()
    return counts


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU if it has none)."""
    param = next(model.parameters(), None)
    return torch.device('cpu') if param is None else param.device


def deployed(model: nn.Module) -> Tuple[nn.Module, int]:
    """An eval copy of ``model`` in deployment form: every module with a
    ``switch_to_deploy()`` method (re-parameterisable blocks such as
    RT-DETR's RepVGG blocks) is switched.

    Returns:
        tuple: The copy, and how many modules were switched.
    """
    model = copy.deepcopy(model).eval()
    switched = [m for m in model.modules() if hasattr(m, 'switch_to_deploy')]
    for module in switched:
        module.switch_to_deploy()
    return model, len(switched)
