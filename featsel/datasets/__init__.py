from .demo_lesions import make_demo_lesions
from .lesion_dataset import LesionSegDataset
from .transforms import (GenerateBoundary, GenerateSDF, PackMultiTaskInputs,
                         binary_mask)

__all__ = [
    'GenerateBoundary', 'GenerateSDF', 'LesionSegDataset',
    'PackMultiTaskInputs', 'binary_mask', 'make_demo_lesions'
]
