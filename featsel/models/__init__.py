"""featsel models: plug-ins (selectors, experts, gatings, routers, pruners)
and the models that assemble them."""
from .base import (BaseExpert, BaseGating, BasePruner, BaseRouter,
                   BaseSelector, BaseTaskModule, GateRecord,
                   GateRecordsMixin)
from .builder import (build_expert, build_gating, build_selector,
                      list_components)
from .experts import *  # noqa: F401,F403
from .gatings import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .pruners import *  # noqa: F401,F403
from .routers import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .selectors import *  # noqa: F401,F403

__all__ = [
    'BaseExpert', 'BaseGating', 'BasePruner', 'BaseRouter', 'BaseSelector',
    'BaseTaskModule', 'GateRecord', 'GateRecordsMixin',
    'build_expert', 'build_gating', 'build_selector', 'list_components'
]
