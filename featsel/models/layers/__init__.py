"""Shared building blocks of the plug-ins."""
from .expert_mixing import (expert_gram, expert_gram_naive, mix_experts,
                            mix_experts_naive, mix_experts_shared,
                            mix_experts_shared_naive)
from .moe_ffn import MoEFFN

__all__ = [
    'MoEFFN', 'expert_gram', 'expert_gram_naive', 'mix_experts',
    'mix_experts_naive', 'mix_experts_shared', 'mix_experts_shared_naive'
]
