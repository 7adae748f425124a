"""Restoration models (SPEC S3): the global-local backbone, its blocks and
the cache of its "global, then tile" inference; the trainable model with
per-task adapters and loss recipes, and its data preprocessor."""
from .crop_plan import AxisPlan, plan_axis
from .data_preprocessor import RestorationDataPreprocessor
from .global_bottleneck import (ChunkedSelfAttention, GlobalBottleneck,
                                TransformerLayer)
from .global_local_restorer import GlobalLocalRestorer, RestorerCache
from .restorer import TaskAdaptedRestorer
from .restorer_blocks import ConvResBlock, DecoderLevel, EncoderLevel
from .router_model import UtilityRouterModel

__all__ = [
    'AxisPlan', 'ChunkedSelfAttention', 'ConvResBlock', 'DecoderLevel',
    'EncoderLevel', 'GlobalBottleneck', 'GlobalLocalRestorer',
    'RestorerCache', 'TransformerLayer', 'plan_axis',
    'RestorationDataPreprocessor', 'TaskAdaptedRestorer',
    'UtilityRouterModel'
]
