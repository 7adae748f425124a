"""S2: multi-modal re-identification (ViT per modality, global-token and
SDTPS token-selection branches, BNNeck heads)."""
from .bnneck_head import BNNeckHead
from .data_preprocessor import MultiModalReIDDataPreprocessor
from .losses import LabelSmoothingCrossEntropyLoss
from .multimodal_reid import MultiModalReID

__all__ = [
    'BNNeckHead', 'LabelSmoothingCrossEntropyLoss', 'MultiModalReID',
    'MultiModalReIDDataPreprocessor'
]
