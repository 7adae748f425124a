"""What :class:`~.plugin_hook.PluginHook` does with each kind of record.

A monitor receives the records of one type, as ``(plug-in path, record
name, record)``, after every training iteration, logs them to the message
hub every ``interval`` iterations and warns through ``runner.logger``.
Warnings fire when a gate or layer *enters* a bad state, and again after it
has recovered and fallen back.
"""
from typing import Dict, List, Optional, Sequence, Set, Tuple

import torch
from torch import Tensor

from ...models.base import (GateRecord, Record, ScalarRecord, ScheduleRecord,
                             UsageRecord)
from ...models.losses.gate_regularizers import entropy

Item = Tuple[str, str, Record]


def record_names(items: Sequence[Item]) -> Dict[str, Item]:
    """Items by display name: the record name, or ``'<plug-in
    path>.<name>'`` for a name already taken (``'decoder.f1/seg'``)."""
    named: Dict[str, Item] = {}
    for item in items:
        path, name, _ = item
        named[f'{path}.{name}' if name in named and path else name] = item
    return named


def gate_statistics(record: GateRecord,
                    saturation_margin: float = 0.05) -> Dict[str, Tensor]:
    """Summary statistics of one gate record, as 0-dim tensors.

    - ``'softmax'`` records ``alpha`` of shape ``(B, K, ...)``:
      ``util_e<k>`` = mean of ``alpha_k`` over the batch and every position
      (and channel), so the ``K`` values sum to one; ``entropy`` = mean over
      the batch and positions of ``H(alpha) = -sum_k alpha_k log alpha_k``
      in nats, not normalised (``log K`` for uniform gates, 0 for one-hot
      gates).
    - ``'sigmoid'`` records ``w`` of shape ``(B, C or 1, H, W)``:
      ``w_mean`` and ``w_min`` over all elements; ``sat_frac``, the
      fraction of weights with ``w < m`` or ``w > 1 - m`` (``m`` =
      ``saturation_margin``), where the sigmoid's slope ``w (1 - w)`` is
      below ``m (1 - m)`` and the gate barely learns; ``bin_entropy``, the
      mean of ``-w log w - (1 - w) log(1 - w)`` in nats (``log 2`` at
      ``w = 0.5``, 0 for a gate fully open or shut).

    Args:
        record (GateRecord): The record; its value is detached here.
        saturation_margin (float): ``m``. Defaults to 0.05.

    Returns:
        dict[str, Tensor]: Statistic name -> 0-dim float tensor.
    """
    with torch.no_grad():
        value = record.value.detach().float()
        if record.kind == 'softmax':
            num = value.shape[1]
            util = value.transpose(0, 1).reshape(num, -1).mean(1)
            stats = {f'util_e{k}': util[k] for k in range(num)}
            stats['entropy'] = entropy(value, dim=1).mean()
            return stats
        if record.kind == 'sigmoid':
            saturated = (value < saturation_margin) | (
                value > 1 - saturation_margin)
            pair = torch.stack([value, 1 - value], dim=0)
            return dict(w_mean=value.mean(), w_min=value.min(),
                        sat_frac=saturated.float().mean(),
                        bin_entropy=entropy(pair, dim=0).mean())
    raise ValueError(f'gate record kind must be "softmax" or "sigmoid", '
                     f'not "{record.kind}"')


class RecordMonitor:
    """Base of the monitors: picks its record type out of all records."""

    record_type: type = object

    def select(self, items: Sequence[Item]) -> List[Item]:
        return [item for item in items
                if isinstance(item[2], self.record_type)]

    def epoch_start(self, runner, items: List[Item]) -> None:
        """Called before every training epoch (nothing by default)."""

    def observe(self, runner, items: List[Item], log: bool) -> None:
        """Called after every training iteration; ``log`` on the
        iterations that log."""
        raise NotImplementedError


class _EdgeWarner:
    """Warn when a name enters a bad state; again only after it left it."""

    def __init__(self) -> None:
        self._bad: Set[str] = set()

    def update(self, name: str, bad: bool) -> bool:
        """True when ``name`` has just become bad."""
        if not bad:
            self._bad.discard(name)
            return False
        if name in self._bad:
            return False
        self._bad.add(name)
        return True


class GateMonitor(RecordMonitor):
    """Gate statistics as ``train/gates/<record>/<statistic>``; collapse
    warnings for softmax gates (one expert above ``collapse_threshold`` of
    the weight) and sigmoid gates (more than ``collapse_threshold`` of the
    weights saturated, see :func:`gate_statistics`).

    Args:
        collapse_threshold (float): In (0, 1]. Defaults to 0.9.
        saturation_margin (float): In (0, 0.5). Defaults to 0.05.
    """

    record_type = GateRecord

    def __init__(self, collapse_threshold: float = 0.9,
                 saturation_margin: float = 0.05) -> None:
        if not 0 < collapse_threshold <= 1:
            raise ValueError('collapse_threshold must lie in (0, 1], got '
                             f'{collapse_threshold}')
        if not 0 < saturation_margin < 0.5:
            raise ValueError('saturation_margin must lie in (0, 0.5), got '
                             f'{saturation_margin}')
        self.collapse_threshold = collapse_threshold
        self.saturation_margin = saturation_margin
        self._warner = _EdgeWarner()

    def observe(self, runner, items: List[Item], log: bool) -> None:
        if not log or not items:
            return
        keys, values = [], []
        for name, (_, _, record) in record_names(items).items():
            stats = gate_statistics(record, self.saturation_margin)
            for stat, value in stats.items():
                keys.append((name, stat))
                values.append(value)
        # one device-to-host copy for all statistics
        numbers = torch.stack(values).tolist()
        stats: Dict[str, Dict[str, float]] = {}
        for (name, stat), number in zip(keys, numbers):
            runner.message_hub.update_scalar(f'train/gates/{name}/{stat}',
                                             number)
            stats.setdefault(name, {})[stat] = number
        for name, values_of in stats.items():
            self._check(runner, name, values_of)

    def _check(self, runner, name: str, stats: Dict[str, float]) -> None:
        utils = {int(k[6:]): v for k, v in stats.items()
                 if k.startswith('util_e')}
        if len(utils) >= 2:
            expert = max(utils, key=utils.get)
            if self._warner.update(
                    name, utils[expert] > self.collapse_threshold):
                runner.logger.warning(
                    f'gate "{name}" has collapsed at iteration '
                    f'{runner.iter + 1}: expert {expert} takes '
                    f'{utils[expert]:.1%} of the weight (threshold '
                    f'{self.collapse_threshold:.0%}). A balance '
                    'regulariser (GateBalanceLoss) counters this. Not '
                    'repeated unless the gate recovers and collapses again.')
        elif 'sat_frac' in stats:
            sat = stats['sat_frac']
            if self._warner.update(name, sat > self.collapse_threshold):
                runner.logger.warning(
                    f'sigmoid gate "{name}" has saturated at iteration '
                    f'{runner.iter + 1}: {sat:.1%} of its weights lie within '
                    f'{self.saturation_margin} of 0 or 1 (threshold '
                    f'{self.collapse_threshold:.0%}, mean weight '
                    f'{stats["w_mean"]:.3f}), where the sigmoid passes '
                    'almost no gradient. Not repeated unless the gate '
                    'recovers and saturates again.')


class UsageMonitor(RecordMonitor):
    """Expert shares of MoE layers, averaged over each log interval, as
    ``train/moe/<layer path>/expert<i>``; warns when one expert's mean share
    passes the layer's threshold.

    The threshold is ``warn_share`` where that can tell a dominant expert
    from a balanced layer, i.e. strictly between the uniform share ``1 / E``
    and the largest reachable share ``1 / k``; elsewhere the midpoint
    ``(1 / E + 1 / k) / 2``, said once per layer.

    Args:
        warn_share (float): In (0, 1]. Defaults to 0.5.
    """

    record_type = UsageRecord

    def __init__(self, warn_share: float = 0.5) -> None:
        if not 0 < warn_share <= 1:
            raise ValueError(
                f'warn_share must lie in (0, 1], got {warn_share}')
        self.warn_share = warn_share
        self._sums: Dict[str, Tensor] = {}
        self._counts: Dict[str, int] = {}
        self._thresholds: Dict[str, float] = {}
        self._warner = _EdgeWarner()

    def observe(self, runner, items: List[Item], log: bool) -> None:
        for path, _, record in items:
            name = path or 'moe'
            load = record.load.detach()
            self._sums[name] = self._sums[name] + load \
                if name in self._sums else load.clone()
            self._counts[name] = self._counts.get(name, 0) + 1
            self.threshold(runner, name, load.numel(), record.top_k)
        if not log or not self._sums:
            return
        names = list(self._sums)
        counts = [self._counts[n] for n in names]
        means = [self._sums[n].float() / c for n, c in zip(names, counts)]
        flat = torch.cat(means).tolist()  # one device-to-host copy
        self._sums.clear()
        self._counts.clear()
        start = 0
        for name, mean, count in zip(names, means, counts):
            shares = flat[start:start + mean.numel()]
            start += mean.numel()
            for i, share in enumerate(shares):
                runner.message_hub.update_scalar(
                    f'train/moe/{name}/expert{i}', share)
            self._check(runner, name, shares, count)

    def threshold(self, runner, name: str, num_experts: int,
                  top_k: int) -> float:
        """The share above which layer ``name`` counts as dominated."""
        if name not in self._thresholds:
            uniform, reachable = 1 / num_experts, 1 / top_k
            value = self.warn_share
            if not uniform < value < reachable:
                value = (uniform + reachable) / 2
                runner.logger.info(
                    f'MoEUsageHook: warn_share={self.warn_share:.0%} cannot '
                    f'tell a dominant expert in MoE layer "{name}" '
                    f'({num_experts} experts, top-{top_k}: uniform '
                    f'{uniform:.1%}, at most {reachable:.1%}); using '
                    f'{value:.1%}')
            self._thresholds[name] = value
        return self._thresholds[name]

    def _check(self, runner, name: str, shares: List[float],
               count: int) -> None:
        threshold = self._thresholds[name]
        expert = max(range(len(shares)), key=shares.__getitem__)
        if self._warner.update(name, shares[expert] > threshold):
            runner.logger.warning(
                f'MoE layer "{name}": expert {expert} takes '
                f'{shares[expert]:.1%} of the token slots (threshold '
                f'{threshold:.1%}, uniform {1 / len(shares):.1%}) in '
                f'the {count} iterations up to {runner.iter + 1}. '
                'A larger balance_loss_weight counters this. Not repeated '
                'unless the layer recovers and collapses again.')


class ScheduleMonitor(RecordMonitor):
    """Scheduled values: one ``runner.logger.info`` line per epoch start,
    and ``train/prune/<path>/<name>`` (pruners' keep ratios) or
    ``train/schedule/<path>/<name>`` every log interval. A model without
    scheduled plug-ins gets one warning when ``warn_if_none``.

    Args:
        warn_if_none (bool): Warn once when the model has no scheduled
            plug-in. Defaults to False.
    """

    record_type = ScheduleRecord

    def __init__(self, warn_if_none: bool = False) -> None:
        self.warn_if_none = warn_if_none
        self._warned = False

    @staticmethod
    def _key(path: str, name: str) -> str:
        if name == 'keep_ratio':
            return f'train/prune/{path or "pruner"}/{name}'
        return f'train/schedule/{path or "model"}/{name}'

    def _none(self, runner, items: List[Item]) -> bool:
        if items:
            return False
        if self.warn_if_none and not self._warned:
            self._warned = True
            runner.logger.warning(
                'the model has no plug-in with a schedule (e.g. a token '
                "pruner's keep ratio); the schedule monitor does nothing.")
        return True

    def epoch_start(self, runner, items: List[Item]) -> None:
        if self._none(runner, items):
            return
        values = ', '.join(f'{path or "pruner"}={record.value:.4f}'
                           if name == 'keep_ratio' else
                           f'{path}.{name}={record.value:.4f}'
                           for path, name, record in items)
        epoch: Optional[int] = getattr(runner, 'epoch', None)
        what = ('token pruning keep ratio' if all(
            name == 'keep_ratio' for _, name, _ in items)
                else 'scheduled values')
        runner.logger.info(f'{what} at epoch {epoch}: {values}')

    def observe(self, runner, items: List[Item], log: bool) -> None:
        if not log or self._none(runner, items):
            return
        for path, name, record in items:
            runner.message_hub.update_scalar(self._key(path, name),
                                             record.value)


class ScalarMonitor(RecordMonitor):
    """Scalar diagnostics (e.g. a token selector's kept-token ratio, score
    statistics and score gradient norm) as ``train/diag/<plug-in
    path>/<name>`` every log interval: the value of the iteration that
    logs, all records copied to the host at once."""

    record_type = ScalarRecord

    def observe(self, runner, items: List[Item], log: bool) -> None:
        if not log or not items:
            return
        values = [record.value for _, _, record in items]
        device = next((v.device for v in values if isinstance(v, Tensor)),
                      None)
        numbers = torch.stack([
            torch.as_tensor(v, dtype=torch.float32,
                            device=device).detach().reshape(())
            for v in values
        ]).tolist()  # one device-to-host copy for all values
        for (path, name, _), number in zip(items, numbers):
            runner.message_hub.update_scalar(
                f'train/diag/{path or "model"}/{name}', number)


__all__ = ['GateMonitor', 'RecordMonitor', 'ScalarMonitor', 'ScheduleMonitor',
           'UsageMonitor', 'gate_statistics', 'record_names']
