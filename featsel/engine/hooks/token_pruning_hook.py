"""Drive the keep-ratio schedule of token pruners and log the ratio."""
from typing import Dict, Optional

from mmengine.hooks import Hook
from torch import nn

from ...registry import HOOKS
from .gate_diagnostics_hook import unwrap_model


def find_scheduled_pruners(model: nn.Module) -> Dict[str, nn.Module]:
    """The pruners of a model that follow an epoch schedule.

    Args:
        model (nn.Module): The model, wrapped or not.

    Returns:
        dict[str, nn.Module]: Module name (``'pruner'`` for the model
        itself) -> every ``BasePruner`` with a ``set_epoch`` method.
    """
    # imported here: importing featsel.models at module level would slow
    # `import featsel`
    from ...models.base import BasePruner

    return {
        name or 'pruner': module
        for name, module in unwrap_model(model).named_modules()
        if isinstance(module, BasePruner)
        and callable(getattr(module, 'set_epoch', None))
    }


@HOOKS.register_module()
class TokenPruningScheduleHook(Hook):
    """Set each token pruner's keep ratio for the epoch, and log it.

    Before every training epoch (the resumed one included) each pruner of
    the model with a ``set_epoch`` method (see
    :func:`find_scheduled_pruners`) gets ``set_epoch(runner.epoch)``, and
    the resulting keep ratios are logged once with ``runner.logger.info``.
    Every ``interval`` training iterations the ratio is written to the
    message hub as ``train/prune/<module name>/keep_ratio``; the
    ``LoggerHook`` prints it (as ``prune/<module name>/keep_ratio``) and
    hands it to the visualizer's backends (the JSON scalar log included).

    Meant for epoch-based training loops: an iteration-based loop calls
    ``before_train_epoch`` once, so the ratio would stay at epoch 0's.

    Args:
        interval (int): Training iterations between two message-hub
            updates. Defaults to 50.
    """

    priority = 'NORMAL'  # before the LoggerHook, which prints the values

    def __init__(self, interval: int = 50) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval
        self._warned = False

    def before_train_epoch(self, runner) -> None:
        """Pass the epoch to every pruner and log the keep ratios.

        Args:
            runner (Runner): Its ``model``, ``epoch`` and ``logger`` are
                used.
        """
        pruners = find_scheduled_pruners(runner.model)
        if not pruners:
            if not self._warned:
                self._warned = True
                runner.logger.warning(
                    'TokenPruningScheduleHook found no token pruner with '
                    'set_epoch() in the model; it does nothing.')
            return
        ratios = []
        for name, pruner in pruners.items():
            pruner.set_epoch(runner.epoch)
            ratios.append(f'{name}={pruner.current_keep_ratio:.4f}')
        runner.logger.info(f'token pruning keep ratio at epoch '
                           f'{runner.epoch}: {", ".join(ratios)}')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Write the current keep ratios to the message hub.

        Args:
            runner (Runner): Its ``model``, ``message_hub`` and ``iter``
                are used.
            batch_idx (int): Index of the batch (unused).
            data_batch (dict, optional): The batch (unused).
            outputs (dict, optional): The losses (unused).
        """
        if not self.every_n_train_iters(runner, self.interval):
            return
        for name, pruner in find_scheduled_pruners(runner.model).items():
            runner.message_hub.update_scalar(
                f'train/prune/{name}/keep_ratio', pruner.current_keep_ratio)
