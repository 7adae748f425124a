"""Swap the dense FFN of a transformer layer for a mixture of experts."""
import copy
from typing import Optional

from torch import nn

from ...registry import LAYERS


def replace_ffn(layer: nn.Module, moe_cfg: Optional[dict]) -> nn.Module:
    """Replace ``layer.ffn`` by the module ``moe_cfg`` builds (in place).

    mmdet's transformer layers call ``self.ffn(x)`` and expect the residual
    inside it, as mmcv's ``FFN`` and featsel's ``MoEFFN`` both do, so the
    layer's forward is unchanged. ``embed_dims`` defaults to the layer's.

    Args:
        layer (nn.Module): A layer with an ``ffn`` attribute and
            ``embed_dims``.
        moe_cfg (dict, optional): Config of the replacement; ``None`` keeps
            the dense FFN.

    Returns:
        nn.Module: ``layer``.
    """
    if moe_cfg is None:
        return layer
    cfg = copy.deepcopy(dict(moe_cfg))
    cfg.setdefault('embed_dims', layer.embed_dims)
    layer.ffn = LAYERS.build(cfg)
    return layer
