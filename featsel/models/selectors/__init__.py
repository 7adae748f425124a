from .identity_selector import IdentitySelector
from .depthwise_expert_block import DepthwiseExpertBlock, LowRankExpertBlock
from .multiscale_task_selector import (DepthwiseExpertSelector,
                                       LowRankExpertSelector,
                                       MultiScaleTaskSelector, TaskDWSelector)
from .scale_block import ScaleBlock, ScaleIdentityBlock
from .sdtps_selector import SDTPSSelector
from .task_dw_block import TaskDWBlock
from .token_aggregation import TokenAggregation
from .token_sparse import ScoreTerms, SparseTokens, TokenSparse

__all__ = [
    'DepthwiseExpertBlock', 'DepthwiseExpertSelector', 'IdentitySelector',
    'LowRankExpertBlock', 'LowRankExpertSelector',
    'MultiScaleTaskSelector', 'ScaleBlock', 'ScaleIdentityBlock',
    'TaskDWBlock', 'TaskDWSelector',
    'SDTPSSelector', 'ScoreTerms', 'SparseTokens', 'TokenAggregation',
    'TokenSparse'
]
