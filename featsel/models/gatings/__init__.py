from .base_softmax_gating import SoftmaxGating
from .scale_gates import ChannelDWScaleGate, PixelScaleGate

__all__ = ['SoftmaxGating', 'ChannelDWScaleGate', 'PixelScaleGate']
