from .formatting import PackMultiTaskInputs
from .loading import CheckedLoadAnnotations, CheckedLoadImageFromFile
from .targets import GenerateBoundary, GenerateSDF, binary_mask

__all__ = [
    'CheckedLoadAnnotations', 'CheckedLoadImageFromFile', 'GenerateBoundary',
    'GenerateSDF', 'PackMultiTaskInputs', 'binary_mask'
]
