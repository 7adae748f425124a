"""Drive the keep-ratio schedule of token pruners and log the ratio."""
from typing import Dict

from torch import nn

from ...models.base import ScheduleRecord, collect_records
from ...registry import HOOKS
from .plugin_hook import PluginHook, unwrap_model


def find_scheduled_pruners(model: nn.Module) -> Dict[str, nn.Module]:
    """The plug-ins of a model that report a keep ratio.

    Args:
        model (nn.Module): The model, wrapped or not.

    Returns:
        dict[str, nn.Module]: Plug-in path (``'pruner'`` for the model
        itself) -> every plug-in with a ``'keep_ratio'``
        :class:`~featsel.models.base.ScheduleRecord`.
    """
    model = unwrap_model(model)
    modules = dict(model.named_modules())
    return {path or 'pruner': modules[path]
            for path, name, record in collect_records(model)
            if name == 'keep_ratio' and isinstance(record, ScheduleRecord)}


@HOOKS.register_module()
class TokenPruningScheduleHook(PluginHook):
    """Set each token pruner's keep ratio, and log it.

    :class:`PluginHook` with the schedule monitor only: before every
    training epoch and iteration each plug-in gets ``set_progress(epoch,
    iter, max_epochs, max_iters)``; under an iteration-based loop ``epoch``
    is the fraction ``iter / iters_per_epoch``, so a warm-up given in epochs
    advances there too. The EMA copy of ``EMAHook`` gets the same progress.
    At each epoch start the keep ratios are logged once with
    ``runner.logger.info``; every ``interval`` training iterations they are
    written to the message hub as ``train/prune/<module name>/keep_ratio``;
    the ``LoggerHook`` prints them (as ``prune/<module name>/keep_ratio``).
    A model without a scheduled plug-in gets one warning.

    Args:
        interval (int): Training iterations between two message-hub
            updates. Defaults to 50.
    """

    def __init__(self, interval: int = 50) -> None:
        super().__init__(interval=interval, records=('schedule', ))
        self.monitors[0].warn_if_none = True
