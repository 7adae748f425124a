"""Necks of the detection models (registered in mmdet's registry)."""
from .hybrid_encoder import HybridEncoder

__all__ = ['HybridEncoder']
