"""S4 host model: an RT-DETR-style detector on mmdet's DINO parts.

The detector, its hybrid encoder (AIFI + CCFM), RepVGG/CSP blocks, 2-D
sin-cos positions and the IoU-aware varifocal loss live together here and
register into mmdet's registries; the token pruners and MoE layers they plug
in stay in their kind folders.
"""
from .hybrid_encoder import HybridEncoder
from .rtdetr import RTDETR
from .varifocal_iou_loss import IoUVarifocalLoss

__all__ = ['HybridEncoder', 'IoUVarifocalLoss', 'RTDETR']
