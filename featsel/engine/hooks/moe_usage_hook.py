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

    When one expert's mean share exceeds ``warn_share`` the hook warns,
    once per layer, naming the layer and the expert. A token picks ``k``
    distinct experts, so a share can reach at most ``1 / k``: for top-2 a
    ``warn_share`` of 0.5 or more can never fire, and the hook says so once
    per layer instead of staying silent.

    Args:
        interval (int): Training iterations between two logs. Defaults to 50.
        warn_share (float): Share of the token slots of one expert above
            which the hook warns, in (0, 1]. Defaults to 0.5.
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
        self._top_k: Dict[str, int] = {}

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
            self._top_k[name] = module.top_k
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

    def _check(self, runner, name: str, shares: List[float],
               count: int) -> None:
        """Warn once per layer whose top share passes ``warn_share`` (or
        that can never pass it)."""
        if name in self._warned:
            return
        top_k = self._top_k[name]
        if self.warn_share >= 1 / top_k:
            self._warned.add(name)
            runner.logger.warning(
                f'MoEUsageHook cannot detect a dominant expert in MoE layer '
                f'"{name}": with top_k={top_k} an expert takes at most '
                f'{1 / top_k:.0%} of the token slots, which never exceeds '
                f'warn_share={self.warn_share:.0%}. Set warn_share below '
                f'{1 / top_k:.2f}.')
            return
        expert = max(range(len(shares)), key=shares.__getitem__)
        if shares[expert] > self.warn_share:
            self._warned.add(name)
            runner.logger.warning(
                f'MoE layer "{name}": expert {expert} takes '
                f'{shares[expert]:.1%} of the token slots (warn_share '
                f'{self.warn_share:.0%}, uniform {1 / len(shares):.1%}) in '
                f'the {count} iterations up to {runner.iter + 1}. '
                'A larger balance_loss_weight counters this. This warning '
                'is not repeated for this layer.')
