"""Routers: send tokens or samples to experts."""
from .topk_router import Routing, TopKRouter

__all__ = ['Routing', 'TopKRouter']
