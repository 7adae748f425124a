"""Activations that mmcv does not ship, registered where mmcv builds its own.

mmcv's ``build_activation_layer(cfg)`` builds from mmengine's root
``MODELS`` (:data:`featsel.registry.LAYERS` is that registry), so an
activation registered here is found by ``act_cfg=dict(type=...)`` of any
mmcv brick (``FFN``, ``ConvModule``) and of the mmseg / mmdet models built
on them, under every default scope.
"""
import torch
from torch import Tensor, nn

from ...registry import LAYERS

#: the sigmoid slope that makes ``x * sigmoid(a x)`` approximate GELU
QUICK_GELU_SLOPE = 1.702


@LAYERS.register_module()
class QuickGELU(nn.Module):
    """The sigmoid approximation of GELU that CLIP's transformers use.

    ``QuickGELU(x) = x * sigmoid(1.702 x)`` (Hendrycks & Gimpel, 2016,
    section 2); it differs from the exact ``x * Phi(x)`` by at most about
    0.02, so weights trained with one need it at inference (a CLIP ViT
    loaded into a backbone takes ``act_cfg=dict(type='QuickGELU')``).

    Element-wise: any shape in, the same shape out.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(QUICK_GELU_SLOPE * x)
