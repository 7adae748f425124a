"""Whole detection models, one folder per system (registered in mmdet's
registries; imported by ``featsel.det``)."""
from .rtdetr import *  # noqa: F401,F403
