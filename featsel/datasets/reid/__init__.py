"""Aligned multi-modal (RGB / NIR / TIR) re-identification data sets."""
from .base import MultiModalReIDDataset, SplitFolder, aligned_files
from .demo_rgbnt201 import (DEMO_RGBNT201, make_demo_rgbnt201,
                            write_demo_rgbnt201)
from .msvr310 import MSVR310Dataset
from .rgbnt100 import RGBNT100Dataset
from .rgbnt201 import RGBNT201Dataset

__all__ = [
    'DEMO_RGBNT201', 'MSVR310Dataset', 'MultiModalReIDDataset',
    'RGBNT100Dataset', 'RGBNT201Dataset', 'SplitFolder', 'aligned_files',
    'make_demo_rgbnt201', 'write_demo_rgbnt201'
]
