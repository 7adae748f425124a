from .formatting import PackMultiTaskInputs
from .targets import GenerateBoundary, GenerateSDF, binary_mask

__all__ = [
    'GenerateBoundary', 'GenerateSDF', 'PackMultiTaskInputs', 'binary_mask'
]
