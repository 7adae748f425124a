"""featsel models: plug-ins (selectors, experts, gatings, routers, pruners)
and the models that assemble them."""
from .base import (BaseExpert, BaseGating, BaseLayer, BaseLoss, BasePruner,
                   BaseRouter, BaseSelector, BaseTaskModule, Example,
                   GateRecord, GateRecordsMixin, Plugin, Record,
                   ScheduleRecord, UsageRecord, collect_aux_losses,
                   collect_records, find_plugins, set_progress)
from .builder import (build_expert, build_gating, build_layer, build_loss,
                      build_pruner, build_router, build_selector,
                      build_token_selector, component_kinds, list_components)
from .experts import *  # noqa: F401,F403
from .gatings import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .pruners import *  # noqa: F401,F403
from .reid import *  # noqa: F401,F403
from .restorers import *  # noqa: F401,F403
from .routers import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .selectors import *  # noqa: F401,F403

__all__ = [
    'BaseExpert', 'BaseGating', 'BaseLayer', 'BaseLoss', 'BasePruner',
    'BaseRouter', 'BaseSelector', 'BaseTaskModule', 'Example', 'GateRecord',
    'GateRecordsMixin', 'Plugin', 'Record', 'ScheduleRecord', 'UsageRecord',
    'build_expert', 'build_gating', 'build_layer', 'build_loss',
    'build_pruner', 'build_router', 'build_selector',
    'build_token_selector', 'collect_aux_losses',
    'collect_records', 'component_kinds', 'find_plugins', 'list_components',
    'set_progress'
]
