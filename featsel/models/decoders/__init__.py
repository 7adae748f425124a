from .base_task_decoder import BaseTaskDecoder
from .patchgate_decoder import PatchGateDecoder
from .unet_decoder import PerTaskUNetDecoder, UNetDecoderStack

__all__ = [
    'BaseTaskDecoder', 'PatchGateDecoder', 'PerTaskUNetDecoder',
    'UNetDecoderStack'
]
