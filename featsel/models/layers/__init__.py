"""Shared building blocks of the plug-ins."""
from .activations import QuickGELU
from .expert_mixing import (expert_gram, expert_gram_naive, mix_experts,
                            mix_experts_naive, mix_experts_shared,
                            mix_experts_shared_naive)
from .moe_ffn import MoEFFN

__all__ = [
    'MoEFFN', 'QuickGELU', 'expert_gram', 'expert_gram_naive', 'mix_experts',
    'mix_experts_naive', 'mix_experts_shared', 'mix_experts_shared_naive'
]
