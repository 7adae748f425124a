from .identity_selector import IdentitySelector
from .depthwise_expert_block import DepthwiseExpertBlock, LowRankExpertBlock
from .multiscale_task_selector import (DepthwiseExpertSelector,
                                       LowRankExpertSelector,
                                       MultiScaleTaskSelector, TaskDWSelector)
from .scale_block import ScaleBlock, ScaleIdentityBlock
from .task_dw_block import TaskDWBlock

__all__ = [
    'DepthwiseExpertBlock', 'DepthwiseExpertSelector', 'IdentitySelector',
    'LowRankExpertBlock', 'LowRankExpertSelector',
    'MultiScaleTaskSelector', 'ScaleBlock', 'ScaleIdentityBlock',
    'TaskDWBlock', 'TaskDWSelector'
]
