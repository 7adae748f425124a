from .identity_selector import IdentitySelector
from .lowrank_expert_selector import LowRankExpertBlock, LowRankExpertSelector

__all__ = ['IdentitySelector', 'LowRankExpertBlock', 'LowRankExpertSelector']
