"""Detectors (registered in mmdet's registry; imported by featsel.det)."""
from .rtdetr import RTDETR

__all__ = ['RTDETR']
