from .adapters import BaseAdapter, BottleneckAdapter, ConvLoRA, FiLM
from .depthwise_experts import DWConvExpert, IdentityExpert
from .ffn_expert import FFNExpert

__all__ = [
    'BaseAdapter', 'BottleneckAdapter', 'ConvLoRA', 'DWConvExpert',
    'FFNExpert', 'FiLM', 'IdentityExpert'
]
