from .base_softmax_gating import SoftmaxGating
from .global_gates import MLPGating, TaskEmbeddingMLPGating
from .scale_gates import ChannelDWScaleGate, PixelScaleGate
from .task_gates import ConvGating

__all__ = ['SoftmaxGating', 'ChannelDWScaleGate', 'PixelScaleGate',
           'ConvGating', 'MLPGating', 'TaskEmbeddingMLPGating']
