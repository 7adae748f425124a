from .depthwise_experts import DWConvExpert, IdentityExpert
from .ffn_expert import FFNExpert

__all__ = ['DWConvExpert', 'FFNExpert', 'IdentityExpert']
