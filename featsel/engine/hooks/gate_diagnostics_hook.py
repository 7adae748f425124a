"""Log the statistics of a model's gates during training."""
from typing import TYPE_CHECKING, Dict, Optional, Set

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from ...registry import HOOKS

if TYPE_CHECKING:  # importing featsel.models here would slow `import featsel`
    from ...models.base import GateRecord


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP / data-parallel wrapper (the model itself
    when it is not wrapped)."""
    return model.module if is_model_wrapper(model) else model


def collect_gate_records(model: nn.Module) -> Dict[str, 'GateRecord']:
    """The gate records of the last forward pass of a model.

    Read from the model's own ``gate_records()`` when it has one, else from
    its ``selector`` and ``decoder``. A record name met twice is prefixed
    with the module it came from (``'decoder.f1/seg'``).

    Args:
        model (nn.Module): The model, wrapped or not.

    Returns:
        dict[str, GateRecord]: Empty for a model without gates.
    """
    model = unwrap_model(model)
    if callable(getattr(model, 'gate_records', None)):
        return dict(model.gate_records())
    records: Dict[str, 'GateRecord'] = {}
    for part in ('selector', 'decoder'):
        module = getattr(model, part, None)
        if not callable(getattr(module, 'gate_records', None)):
            continue
        for name, record in module.gate_records().items():
            records[f'{part}.{name}' if name in records else name] = record
    return records


def gate_statistics(record: 'GateRecord') -> Dict[str, Tensor]:
    """Summary statistics of one gate record, as 0-dim tensors.

    - ``'softmax'`` records ``alpha`` of shape ``(B, K, ...)``:
      ``util_e<k>`` = mean of ``alpha_k`` over the batch and every position
      (and channel), so the ``K`` values sum to one; ``entropy`` = mean over
      the batch and positions of ``H(alpha) = -sum_k alpha_k log alpha_k``
      in nats, not normalised (``log K`` for uniform gates, 0 for one-hot
      gates).
    - ``'sigmoid'`` records ``w`` of shape ``(B, C or 1, H, W)``:
      ``w_mean`` and ``w_min`` over all elements.

    Args:
        record (GateRecord): The record; its value is detached here.

    Returns:
        dict[str, Tensor]: Statistic name -> 0-dim float tensor.
    """
    from ...models.losses.gate_regularizers import entropy

    with torch.no_grad():
        value = record.value.detach().float()
        if record.kind == 'softmax':
            num = value.shape[1]
            util = value.transpose(0, 1).reshape(num, -1).mean(1)
            stats = {f'util_e{k}': util[k] for k in range(num)}
            stats['entropy'] = entropy(value, dim=1).mean()
            return stats
        if record.kind == 'sigmoid':
            return dict(w_mean=value.mean(), w_min=value.min())
    raise ValueError(f'gate record kind must be "softmax" or "sigmoid", '
                     f'not "{record.kind}"')


@HOOKS.register_module()
class GateDiagnosticsHook(Hook):
    """Log gate utilisation and entropy, and warn when a gate collapses.

    Every ``interval`` training iterations the gate records of the model's
    selector and decoder (see :func:`collect_gate_records`) are summarised
    by :func:`gate_statistics` and written to the message hub as
    ``train/gates/<record name>/<statistic>``, e.g.
    ``train/gates/f5/seg/util_e0``, ``train/gates/f5/seg/entropy``,
    ``train/gates/f1/seg/w_mean``. The ``LoggerHook`` prints them (as
    ``gates/...``) and hands them to the visualizer's backends. Models
    without gate records are skipped.

    A softmax gate has collapsed when one expert takes more than
    ``collapse_threshold`` of the weight on average; the hook warns once
    per record name.

    Args:
        interval (int): Training iterations between two logs.
            Defaults to 50.
        collapse_threshold (float): Utilisation of one expert above which
            the gate counts as collapsed, in (0, 1]. Defaults to 0.9.
    """

    priority = 'NORMAL'  # before the LoggerHook, which prints the values

    def __init__(self, interval: int = 50,
                 collapse_threshold: float = 0.9) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if not 0 < collapse_threshold <= 1:
            raise ValueError('collapse_threshold must lie in (0, 1], got '
                             f'{collapse_threshold}')
        self.interval = interval
        self.collapse_threshold = collapse_threshold
        self._warned: Set[str] = set()

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Log the gates of this iteration's forward pass.

        Args:
            runner (Runner): Its ``model``, ``message_hub``, ``logger`` and
                ``iter`` are used.
            batch_idx (int): Index of the batch (unused).
            data_batch (dict, optional): The batch (unused).
            outputs (dict, optional): The losses (unused).
        """
        if not self.every_n_train_iters(runner, self.interval):
            return
        records = collect_gate_records(runner.model)
        if not records:
            return
        keys, values = [], []
        for name, record in records.items():
            for stat, value in gate_statistics(record).items():
                keys.append((name, stat))
                values.append(value)
        # one device-to-host copy for all statistics
        numbers = torch.stack(values).tolist()
        for (name, stat), number in zip(keys, numbers):
            runner.message_hub.update_scalar(f'train/gates/{name}/{stat}',
                                             number)
        self._warn_collapse(runner, dict(zip(keys, numbers)))

    def _warn_collapse(self, runner, stats: Dict[tuple, float]) -> None:
        """Warn once per record whose top utilisation passes the
        threshold."""
        utils: Dict[str, Dict[int, float]] = {}
        for (name, stat), number in stats.items():
            if stat.startswith('util_e'):
                utils.setdefault(name, {})[int(stat[6:])] = number
        for name, util in utils.items():
            if name in self._warned or len(util) < 2:
                continue
            expert = max(util, key=util.get)
            if util[expert] > self.collapse_threshold:
                self._warned.add(name)
                runner.logger.warning(
                    f'gate "{name}" has collapsed at iteration '
                    f'{runner.iter + 1}: expert {expert} takes '
                    f'{util[expert]:.1%} of the weight (threshold '
                    f'{self.collapse_threshold:.0%}). A balance '
                    'regulariser (GateBalanceLoss) counters this. This '
                    'warning is not repeated for this gate.')
