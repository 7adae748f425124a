"""Log how the tokens of each mixture-of-experts layer spread over its
experts, and warn when one expert takes too many (SPEC S4 monitoring)."""
from typing import List, Tuple

from torch import nn

from ...models.base import find_plugins
from ...models.layers.moe_ffn import MoEFFN
from ...registry import HOOKS
from .plugin_hook import PluginHook, unwrap_model


def moe_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(path, layer)`` of every :class:`~featsel.models.layers.MoEFFN` of
    a model (wrapped or not) that is one of its outermost plug-ins, in
    ``named_modules()`` order; each reports a
    :class:`~featsel.models.base.UsageRecord` after its forward."""
    return [(path, plugin)
            for path, plugin in find_plugins(unwrap_model(model))
            if isinstance(plugin, MoEFFN)]


@HOOKS.register_module()
class MoEUsageHook(PluginHook):
    """Log the expert shares of every MoE layer; warn when one dominates.

    :class:`PluginHook` with the usage monitor only (no schedules). After
    every training iteration the hook adds up each layer's
    :class:`~featsel.models.base.UsageRecord` (the fraction of the
    ``N * k`` token slots each expert took, summing to one). Every
    ``interval`` iterations it writes the mean over the iterations since the
    last log to the message hub as ``train/moe/<layer>/expert<i>``, e.g.
    ``train/moe/encoder.layers.0.ffn/expert2``; the ``LoggerHook`` prints
    them as ``moe/...``.

    When one expert's mean share exceeds the layer's threshold the hook
    warns, naming the layer and the expert; it warns again if the layer
    recovers and then collapses anew. The threshold is ``warn_share``
    where that can tell a dominant expert from a balanced layer, i.e. where
    it lies strictly between the uniform share ``1 / E`` and the largest
    reachable share ``1 / k`` (a token picks ``k`` distinct experts).
    Elsewhere -- 2 experts top-1 (uniform is already 50 %), top-2 or more
    (no expert can exceed 50 %) -- the hook uses the midpoint
    ``(1 / E + 1 / k) / 2`` and says so once per layer:

    ======  ===  ==========
     E       k   threshold
    ======  ===  ==========
     4       1   0.5
     2       1   0.75
     3       2   0.417
     4       2   0.375
     6       3   0.25
    ======  ===  ==========

    Args:
        interval (int): Training iterations between two logs. Defaults to 50.
        warn_share (float): Share of the token slots of one expert above
            which the hook warns, in (0, 1], where it is meaningful for the
            layer (see above). Defaults to 0.5.
    """

    def __init__(self, interval: int = 50, warn_share: float = 0.5) -> None:
        super().__init__(interval=interval, records=('usage', ),
                         drive_schedules=False, warn_share=warn_share)

    def threshold(self, runner, name: str, num_experts: int,
                  top_k: int) -> float:
        """The share above which layer ``name`` counts as dominated."""
        return self.monitors[0].threshold(runner, name, num_experts, top_k)
