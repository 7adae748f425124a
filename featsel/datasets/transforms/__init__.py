from .formatting import PackMultiTaskInputs
from .loading import CheckedLoadAnnotations, CheckedLoadImageFromFile
from .multimodal import (LoadMultiModalImages, PackMultiModalReIDInputs,
                         RandomErasing, RandomPadCrop)
from .paired import (LoadPairedImages, PackRestorationInputs,
                     PairedRandomCrop, PairedRandomFlipRot)
from .targets import GenerateBoundary, GenerateSDF, binary_mask

__all__ = [
    'CheckedLoadAnnotations', 'CheckedLoadImageFromFile', 'GenerateBoundary',
    'GenerateSDF', 'PackMultiTaskInputs', 'binary_mask',
    'LoadMultiModalImages', 'PackMultiModalReIDInputs', 'RandomErasing',
    'RandomPadCrop', 'LoadPairedImages', 'PackRestorationInputs',
    'PairedRandomCrop', 'PairedRandomFlipRot'
]
