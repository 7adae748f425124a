"""Pruners: choose which tokens a layer processes."""
from .spatial_prior_pruner import SpatialPriorTokenPruner
from .token_pruner import LearnableTokenPruner, PrunedTokens, keep_ratio_at

__all__ = [
    'LearnableTokenPruner', 'PrunedTokens', 'SpatialPriorTokenPruner',
    'keep_ratio_at'
]
