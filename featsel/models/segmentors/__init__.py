"""Whole segmentation models, one folder per system."""
from .multitask import *  # noqa: F401,F403
