from .depthwise_experts import DWConvExpert, IdentityExpert

__all__ = ['DWConvExpert', 'IdentityExpert']
