"""Log how the tokens of each mixture-of-experts layer spread over its
experts, and warn when one expert takes too many (SPEC S4 monitoring)."""
from typing import Dict, List, Optional, Set, Tuple

import torch
from mmengine.hooks import Hook
from torch import Tensor, nn

from ...registry import HOOKS
from .gate_diagnostics_hook import unwrap_model


def moe_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of every :class:`~featsel.models.layers.MoEFFN`
    of a model, wrapped or not, in ``named_modules()`` order."""
    # imported here: importing featsel.models at module level would slow
    # down `import featsel`
    from ...models.layers.moe_ffn import MoEFFN
    return [(name, module)
            for name, module in unwrap_model(model).named_modules()
            if isinstance(module, MoEFFN)]


@HOOKS.register_module()
class MoEUsageHook(Hook):
    """Log the expert shares of every MoE layer; warn when one dominates.

    After every training iteration the hook adds up ``last_expert_load`` of
    each :class:`~featsel.models.layers.MoEFFN` (the fraction of the
    ``N * k`` token slots each expert took, summing to one). Every
    ``interval`` iterations it writes the mean over the iterations since the
    last log to the message hub as ``train/moe/<layer>/expert<i>``, e.g.
    ``train/moe/encoder.layers.0.ffn/expert2``; the ``LoggerHook`` prints
    them as ``moe/...``.

    When one expert's mean share exceeds the layer's threshold the hook
    warns, once per layer, naming the layer and the expert. The threshold
    is ``warn_share`` where that can tell a dominant expert from a balanced
    layer, i.e. where it lies strictly between the uniform share ``1 / E``
    and the largest reachable share ``1 / k`` (a token picks ``k`` distinct
    experts). Elsewhere -- 2 experts top-1 (uniform is already 50 %), top-2
    or more (no expert can exceed 50 %) -- the hook uses the midpoint
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

    priority = 'NORMAL'  # before the LoggerHook, which prints the values

    def __init__(self, interval: int = 50, warn_share: float = 0.5) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if not 0 < warn_share <= 1:
            raise ValueError(
                f'warn_share must lie in (0, 1], got {warn_share}')
        self.interval = interval
        self.warn_share = warn_share
        self._sums: Dict[str, Tensor] = {}
        self._counts: Dict[str, int] = {}
        self._warned: Set[str] = set()
        self._thresholds: Dict[str, float] = {}

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Add this iteration's expert loads; log and check every
        ``interval`` iterations.

        Args:
            runner (Runner): Its ``model``, ``message_hub``, ``logger`` and
                ``iter`` are used.
            batch_idx (int): Index of the batch (unused).
            data_batch (dict, optional): The batch (unused).
            outputs (dict, optional): The losses (unused).
        """
        for name, module in moe_layers(runner.model):
            load = module.last_expert_load
            if load is None:
                continue
            load = load.detach()
            self._sums[name] = self._sums[name] + load \
                if name in self._sums else load.clone()
            self._counts[name] = self._counts.get(name, 0) + 1
            self.threshold(runner, name, module.num_experts, module.top_k)
        if not self.every_n_train_iters(runner, self.interval):
            return
        if not self._sums:
            return
        names = list(self._sums)
        counts = [self._counts[n] for n in names]
        means = [self._sums[n].float() / c for n, c in zip(names, counts)]
        # one device-to-host copy for all layers
        flat = torch.cat(means).tolist()
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
        """Warn once per layer whose top share passes its threshold."""
        if name in self._warned:
            return
        threshold = self._thresholds[name]
        expert = max(range(len(shares)), key=shares.__getitem__)
        if shares[expert] > threshold:
            self._warned.add(name)
            runner.logger.warning(
                f'MoE layer "{name}": expert {expert} takes '
                f'{shares[expert]:.1%} of the token slots (threshold '
                f'{threshold:.1%}, uniform {1 / len(shares):.1%}) in '
                f'the {count} iterations up to {runner.iter + 1}. '
                'A larger balance_loss_weight counters this. This warning '
                'is not repeated for this layer.')
