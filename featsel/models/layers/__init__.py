"""Shared building blocks of the plug-ins."""
from .expert_mixing import (mix_experts, mix_experts_naive,
                            mix_experts_shared, mix_experts_shared_naive)

__all__ = [
    'mix_experts', 'mix_experts_naive', 'mix_experts_shared',
    'mix_experts_shared_naive'
]
