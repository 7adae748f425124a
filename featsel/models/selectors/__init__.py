from .identity_selector import IdentitySelector
from .lowrank_expert_block import LowRankExpertBlock
from .multiscale_task_selector import (LowRankExpertSelector,
                                       MultiScaleTaskSelector, TaskDWSelector)
from .scale_block import ScaleBlock, ScaleIdentityBlock
from .task_dw_block import TaskDWBlock

__all__ = [
    'IdentitySelector', 'LowRankExpertBlock', 'LowRankExpertSelector',
    'MultiScaleTaskSelector', 'ScaleBlock', 'ScaleIdentityBlock',
    'TaskDWBlock', 'TaskDWSelector'
]
