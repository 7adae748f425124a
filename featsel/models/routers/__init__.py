"""Routers: send tokens or samples to experts."""
from .topk_router import Routing, TopKRouter
from .utility_router import UtilityRouter, image_statistics

__all__ = ['Routing', 'TopKRouter', 'UtilityRouter', 'image_statistics']
