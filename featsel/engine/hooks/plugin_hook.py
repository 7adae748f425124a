"""One hook for every plug-in: drive the schedules, log the records.

:class:`PluginHook` finds the outermost plug-ins of the model once (see
:func:`featsel.models.base.find_plugins`), calls their ``set_progress``
before every training iteration (and on the EMA copy of the model, so the
validated EMA model follows the schedule), and hands their ``records()`` to
one monitor per record type:

* :class:`~.plugin_monitors.GateMonitor` -- :class:`GateRecord`: utilisation,
  entropy, saturation; warns when a gate collapses;
* :class:`~.plugin_monitors.UsageMonitor` -- :class:`UsageRecord`: expert
  shares of MoE layers; warns when one expert dominates;
* :class:`~.plugin_monitors.ScheduleMonitor` -- :class:`ScheduleRecord`:
  scheduled values such as a pruner's keep ratio;
* :class:`~.plugin_monitors.ScalarMonitor` -- :class:`ScalarRecord`:
  scalar diagnostics such as a token selector's score statistics.

``GateDiagnosticsHook``, ``MoEUsageHook`` and ``TokenPruningScheduleHook``
are this hook with one monitor each.
"""
from typing import List, Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from torch import nn

from ...models.base import (Plugin, Record, collect_records, find_plugins,
                            set_progress)
from ...registry import HOOKS
from .plugin_monitors import (GateMonitor, RecordMonitor, ScalarMonitor,
                              ScheduleMonitor, UsageMonitor)

_MONITORS = {'gate': GateMonitor, 'usage': UsageMonitor,
             'schedule': ScheduleMonitor, 'scalar': ScalarMonitor}


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP / data-parallel wrapper (the model itself
    when it is not wrapped)."""
    return model.module if is_model_wrapper(model) else model


def training_progress(
        runner) -> Tuple[float, int, Optional[int], Optional[int]]:
    """``(epoch, iter, max_epochs, max_iters)`` of a runner in training.

    ``epoch`` is ``runner.epoch`` under an epoch-based loop and the
    fraction ``iter / len(train dataloader)`` under an
    :class:`~mmengine.runner.IterBasedTrainLoop` (whose ``runner.epoch``
    never moves), so epoch schedules advance under both loops.
    """
    loop = getattr(runner, 'train_loop', None)
    iteration = int(getattr(runner, 'iter', 0))
    epoch = float(getattr(runner, 'epoch', 0))
    if isinstance(loop, IterBasedTrainLoop):
        epoch = iteration / max(len(loop.dataloader), 1)
    return (epoch, iteration, getattr(loop, 'max_epochs', None),
            getattr(loop, 'max_iters', None))


@HOOKS.register_module()
class PluginHook(Hook):
    """Drive the plug-ins' schedules and log their records.

    * ``set_progress(epoch, iter, max_epochs, max_iters)`` (see
      :func:`training_progress`) on every plug-in before every training
      epoch and iteration, and after each iteration on the model copies of
      ``EMAHook`` (after its averaging step, so a schedule buffer such as
      ``keep_ratio_now`` holds the schedule's value there too).
    * After every training iteration, the plug-ins' records go to the
      monitors named in ``records``; they write to the message hub as
      ``train/gates/...``, ``train/moe/...``, ``train/prune/...``,
      ``train/diag/...`` (the ``LoggerHook`` prints them without
      ``train/``) and warn through ``runner.logger``.

    Args:
        interval (int): Training iterations between two logs.
            Defaults to 50.
        records (Sequence[str]): Monitors to run: ``'gate'``, ``'usage'``,
            ``'schedule'``, ``'scalar'``. Defaults to all four.
        drive_schedules (bool): Call ``set_progress``. Defaults to True.
        collapse_threshold (float): ``GateMonitor``: a softmax gate has
            collapsed when one expert takes more than this share of the
            weight; a sigmoid gate when more than this fraction of its
            weights is saturated. In (0, 1]. Defaults to 0.9.
        saturation_margin (float): ``GateMonitor``: a sigmoid weight is
            saturated below ``margin`` or above ``1 - margin``. In (0, 0.5).
            Defaults to 0.05.
        warn_share (float): ``UsageMonitor``: share of the token slots of
            one expert above which it warns. In (0, 1]. Defaults to 0.5.
    """

    priority = 'NORMAL'  # before the LoggerHook, which prints the values

    def __init__(self,
                 interval: int = 50,
                 records: Sequence[str] = ('gate', 'usage', 'schedule',
                                           'scalar'),
                 drive_schedules: bool = True,
                 collapse_threshold: float = 0.9,
                 saturation_margin: float = 0.05,
                 warn_share: float = 0.5) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        unknown = sorted(set(records) - set(_MONITORS))
        if isinstance(records, str) or unknown:
            raise ValueError(f'records must name some of '
                             f'{sorted(_MONITORS)}, got {records!r}')
        args = dict(gate=dict(collapse_threshold=collapse_threshold,
                              saturation_margin=saturation_margin),
                    usage=dict(warn_share=warn_share), schedule={},
                    scalar={})
        self.interval = interval
        self.drive_schedules = drive_schedules
        self.monitors: List[RecordMonitor] = [
            _MONITORS[name](**args[name]) for name in records]
        self._model: Optional[nn.Module] = None
        self._plugins: List[Tuple[str, Plugin]] = []

    # ------------------------------------------------------------------ #
    def plugins(self, runner) -> List[Tuple[str, Plugin]]:
        """The outermost plug-ins of the runner's model, found once."""
        model = unwrap_model(runner.model)
        if model is not self._model:
            self._model = model
            self._plugins = find_plugins(model)
        return self._plugins

    def _records(self, runner) -> List[Tuple[str, str, Record]]:
        return [(path, name, record)
                for path, plugin in self.plugins(runner)
                for _, name, record in collect_records(plugin)]

    def _drive(self, runner, models: Sequence[nn.Module]) -> None:
        if not self.drive_schedules:
            return
        progress = training_progress(runner)
        for model in models:
            set_progress(model, *progress)

    @staticmethod
    def _ema_models(runner) -> List[nn.Module]:
        return [hook.ema_model.module
                for hook in getattr(runner, 'hooks', [])
                if getattr(hook, 'ema_model', None) is not None]

    # ------------------------------------------------------------------ #
    def before_train_epoch(self, runner) -> None:
        """Set the progress and let the monitors report the epoch start."""
        self._drive(runner, [plugin for _, plugin in self.plugins(runner)]
                    + self._ema_models(runner))
        records = self._records(runner)
        for monitor in self.monitors:
            monitor.epoch_start(runner, monitor.select(records))

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Set the progress of the iteration about to run."""
        self._drive(runner, [plugin for _, plugin in self.plugins(runner)])

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Set the EMA copies' progress; hand the records to the monitors.

        Args:
            runner (Runner): Its ``model``, ``message_hub``, ``logger``,
                ``iter`` (and ``epoch``, ``train_loop``, ``hooks`` where
                present) are used.
            batch_idx (int): Index of the batch (unused).
            data_batch (dict, optional): The batch (unused).
            outputs (dict, optional): The losses (unused).
        """
        self._drive(runner, self._ema_models(runner))
        log = self.every_n_train_iters(runner, self.interval)
        records = self._records(runner)
        for monitor in self.monitors:
            monitor.observe(runner, monitor.select(records), log)

