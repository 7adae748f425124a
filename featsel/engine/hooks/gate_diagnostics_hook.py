"""Log the statistics of a model's gates during training."""
from typing import Dict

from torch import nn

from ...models.base import GateRecord, collect_records
from ...registry import HOOKS
from .plugin_hook import PluginHook, unwrap_model
from .plugin_monitors import gate_statistics, record_names

__all__ = ['GateDiagnosticsHook', 'collect_gate_records', 'gate_statistics',
           'unwrap_model']


def collect_gate_records(model: nn.Module) -> Dict[str, GateRecord]:
    """The gate records of the last forward pass of a model's plug-ins.

    A record name met twice is prefixed with the path of the plug-in it
    came from (``'decoder.f1/seg'``).

    Args:
        model (nn.Module): The model, wrapped or not.

    Returns:
        dict[str, GateRecord]: Empty for a model without gates.
    """
    items = [item for item in collect_records(unwrap_model(model))
             if isinstance(item[2], GateRecord)]
    return {name: item[2] for name, item in record_names(items).items()}


@HOOKS.register_module()
class GateDiagnosticsHook(PluginHook):
    """Log gate utilisation, entropy and saturation; warn when a gate
    collapses.

    :class:`PluginHook` with the gate monitor only (no schedules). Every
    ``interval`` training iterations the gate records of the model's
    plug-ins (see :func:`collect_gate_records`) are summarised by
    :func:`gate_statistics` and written to the message hub as
    ``train/gates/<record name>/<statistic>``, e.g.
    ``train/gates/f5/seg/util_e0``, ``train/gates/f5/seg/entropy``,
    ``train/gates/f1/seg/sat_frac``. The ``LoggerHook`` prints them (as
    ``gates/...``) and hands them to the visualizer's backends.

    A softmax gate has collapsed when one expert takes more than
    ``collapse_threshold`` of the weight on average; a sigmoid gate when
    more than ``collapse_threshold`` of its weights lie within
    ``saturation_margin`` of 0 or 1. The hook warns when a gate collapses,
    and again only after it has recovered.

    Args:
        interval (int): Training iterations between two logs.
            Defaults to 50.
        collapse_threshold (float): In (0, 1]. Defaults to 0.9.
        saturation_margin (float): In (0, 0.5). Defaults to 0.05.
    """

    def __init__(self, interval: int = 50,
                 collapse_threshold: float = 0.9,
                 saturation_margin: float = 0.05) -> None:
        super().__init__(interval=interval, records=('gate', ),
                         drive_schedules=False,
                         collapse_threshold=collapse_threshold,
                         saturation_margin=saturation_margin)
