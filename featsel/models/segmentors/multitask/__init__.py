"""S1 host model: shared UNet encoder -> selector -> task decoders -> heads.

The segmentor, its task declarations, the UNet encoder and decoders and the
PatchGate single-stage decoder live together here; the selectors, gatings and
experts they plug in stay in their kind folders.
"""
from .base_task_decoder import BaseTaskDecoder
from .multitask_segmentor import MultiTaskSegmentor
from .patchgate_decoder import PatchGateDecoder
from .task_kinds import (TASK_KINDS, TaskKind, get_task_kind,
                         register_task_kind)
from .task_spec import TaskSpec, make_synthetic_target
from .unet_decoder import PerTaskUNetDecoder, UNetDecoderStack
from .unet_encoder import UNetEncoder, check_in_channels

__all__ = [
    'BaseTaskDecoder', 'MultiTaskSegmentor', 'PatchGateDecoder', 'TASK_KINDS',
    'TaskKind', 'TaskSpec', 'PerTaskUNetDecoder', 'UNetDecoderStack',
    'UNetEncoder', 'check_in_channels', 'get_task_kind',
    'make_synthetic_target', 'register_task_kind'
]
