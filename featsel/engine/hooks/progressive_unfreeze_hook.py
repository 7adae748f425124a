"""Freeze the lower layer groups of a backbone, then unfreeze the top of
the frozen part at a lower learning rate (expert fine-tuning, SPEC S3)."""
import logging
import math
from typing import Dict, List, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import nn

from ...registry import HOOKS
from ...utils import ConfigError
from .plugin_hook import unwrap_model

# relative tolerance of the learning-rate ratio check
_LR_RTOL = 1e-6


def layer_groups(model: nn.Module,
                 backbone: str) -> List[Tuple[str, nn.Module]]:
    """``(prefix, module)`` of each layer group of ``model.<backbone>``,
    from input to output; ``prefix`` is the group's parameter-name prefix
    in ``model`` (``'backbone.encoder.0'``)."""
    module = model
    for part in backbone.split('.') if backbone else []:
        module = getattr(module, part, None)
        if module is None:
            raise ConfigError(f'the model has no "{backbone}" (the '
                              'backbone whose layer groups are frozen)')
    if not hasattr(module, 'layer_groups'):
        raise ConfigError(f'{type(module).__name__} ("{backbone}") has no '
                          'layer_groups() to freeze')
    prefix = backbone + '.' if backbone else ''
    return [(prefix + name, group) for name, group in module.layer_groups()]


@HOOKS.register_module()
class ProgressiveUnfreezeHook(Hook):
    r"""Train adapters and the top of a backbone, then unfreeze more of it.

    The backbone's layer groups ``G_0 .. G_{n-1}`` (``layer_groups()``,
    input to output) are split at ``k = round(frozen_fraction * n)`` (half
    up):

    * **stage 1** (iterations ``< unfreeze_iter``): ``G_0 .. G_{k-1}`` are
      frozen (``requires_grad=False``, so they get no gradient and the
      optimizer skips them); the top groups ``G_k .. G_{n-1}`` and every
      parameter outside the groups (the adapters) train;
    * **stage 2** (iterations ``>= unfreeze_iter``): the top
      ``unfreeze_groups`` of the frozen part, ``G_{k-u} .. G_{k-1}``, train
      too, at ``unfreeze_lr_mult`` times the learning rate of the rest.

    The lower rate comes from the optimizer: give those groups
    ``lr_mult`` in ``optim_wrapper.paramwise_cfg.custom_keys``; the hook
    checks before training that their learning rate is ``unfreeze_lr_mult``
    times that of the top groups and names the keys to add otherwise. The
    stage follows ``runner.iter``, so a resumed run continues in the right
    one. Each switch is logged with the trainable parameter count.

    With the default split of :class:`~featsel.models.restorers.
    GlobalLocalRestorer` (three levels: nine groups, ``frozen_fraction=2/3``
    -> six frozen, ``unfreeze_groups=2``), the encoder and the bottleneck
    stay frozen, so an expert shares them with the model it started from.

    Args:
        frozen_fraction (float): Share of the groups frozen in stage 1, in
            [0, 1]; 1 trains the adapters alone (every expert then shares
            the whole backbone). Defaults to 2/3.
        unfreeze_iter (int, optional): First iteration of stage 2; None
            never unfreezes. Defaults to None.
        unfreeze_groups (int): Frozen groups (from the top of the frozen
            part) that stage 2 unfreezes, ``1 <= u <= k``. Defaults to 2.
        unfreeze_lr_mult (float): Learning-rate ratio those groups must
            have. Defaults to 0.1.
        backbone (str): Attribute path of the backbone in the model.
            Defaults to ``'backbone'``.
    """

    priority = 'HIGH'

    def __init__(self,
                 frozen_fraction: float = 2 / 3,
                 unfreeze_iter: Optional[int] = None,
                 unfreeze_groups: int = 2,
                 unfreeze_lr_mult: float = 0.1,
                 backbone: str = 'backbone') -> None:
        if not 0 <= frozen_fraction <= 1:
            raise ConfigError(f'ProgressiveUnfreezeHook.frozen_fraction must '
                              f'lie in [0, 1], got {frozen_fraction}')
        if unfreeze_iter is not None and unfreeze_iter < 0:
            raise ConfigError('ProgressiveUnfreezeHook.unfreeze_iter must be '
                              f'>= 0 or None, got {unfreeze_iter}')
        if unfreeze_lr_mult <= 0:
            raise ConfigError('ProgressiveUnfreezeHook.unfreeze_lr_mult must '
                              f'be > 0, got {unfreeze_lr_mult}')
        self.frozen_fraction = frozen_fraction
        self.unfreeze_iter = unfreeze_iter
        self.unfreeze_groups = unfreeze_groups
        self.unfreeze_lr_mult = unfreeze_lr_mult
        self.backbone = backbone
        self._stage: Optional[int] = None

    def split(self, model: nn.Module) -> Dict[str, List[str]]:
        """The groups of each role: ``frozen`` (always), ``unfrozen`` (from
        stage 2) and ``top`` (always trained), as parameter-name prefixes.
        """
        groups = [name for name, _ in layer_groups(model, self.backbone)]
        k = math.floor(self.frozen_fraction * len(groups) + 0.5)
        u = self.unfreeze_groups if self.unfreeze_iter is not None else 0
        if self.unfreeze_iter is not None and not 1 <= u <= k:
            raise ConfigError(
                f'ProgressiveUnfreezeHook.unfreeze_groups={u} must lie in '
                f'[1, {k}], the frozen groups {groups[:k]}')
        return dict(frozen=groups[:k - u], unfrozen=groups[k - u:k],
                    top=groups[k:])

    def stage(self, iteration: int) -> int:
        """1 before ``unfreeze_iter``, 2 from it on."""
        if self.unfreeze_iter is not None and iteration >= self.unfreeze_iter:
            return 2
        return 1

    def _apply(self, runner, stage: int) -> None:
        model = unwrap_model(runner.model)
        roles = self.split(model)
        frozen = roles['frozen'] + (roles['unfrozen'] if stage == 1 else [])
        trainable = 0
        for name, param in model.named_parameters():
            param.requires_grad_(
                not any(name.startswith(p + '.') for p in frozen))
            trainable += param.numel() if param.requires_grad else 0
        total = sum(p.numel() for p in model.parameters())
        print_log(
            f'ProgressiveUnfreezeHook: stage {stage} from iteration '
            f'{runner.iter}: frozen {frozen or "none"}; {trainable} of '
            f'{total} parameters train', logger='current')
        self._stage = stage

    def _check_learning_rates(self, runner) -> None:
        """The unfrozen groups must have ``unfreeze_lr_mult`` times the
        learning rate of what trains from the start (top groups,
        adapters)."""
        model = unwrap_model(runner.model)
        roles = self.split(model)
        lrs = {}
        for group in runner.optim_wrapper.optimizer.param_groups:
            for param in group['params']:
                lrs[id(param)] = group.get('initial_lr', group['lr'])
        held = roles['frozen'] + roles['unfrozen']
        late, rest = set(), set()
        for name, param in model.named_parameters():
            if any(name.startswith(p + '.') for p in roles['unfrozen']):
                late.add(lrs.get(id(param)))
            elif not any(name.startswith(p + '.') for p in held):
                rest.add(lrs.get(id(param)))
        if not late or not rest:
            return
        expected = self.unfreeze_lr_mult * max(rest)
        if len(rest) != 1 or any(abs(lr - expected) > _LR_RTOL * expected
                                 for lr in late):
            keys = ', '.join(f"'{p}.': dict(lr_mult={self.unfreeze_lr_mult})"
                             for p in roles['unfrozen'])
            raise ConfigError(
                f'ProgressiveUnfreezeHook: the groups unfrozen at iteration '
                f'{self.unfreeze_iter} ({roles["unfrozen"]}) must train at '
                f'{self.unfreeze_lr_mult} x the learning rate of the '
                f'parameters trained from the start; found rates '
                f'{sorted(late)} vs {sorted(rest)}. Add to '
                f'optim_wrapper.paramwise_cfg: custom_keys={{{keys}}}')

    def before_train(self, runner) -> None:
        self._check_learning_rates(runner)
        self._apply(runner, self.stage(runner.iter))

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        stage = self.stage(runner.iter)
        if stage != self._stage:
            self._apply(runner, stage)

    def after_train(self, runner) -> None:
        # leave the model as built, for what runs after training
        for param in unwrap_model(runner.model).parameters():
            param.requires_grad_(True)
        self._stage = None
        if self.unfreeze_iter is not None and runner.iter < \
                self.unfreeze_iter:
            print_log(f'ProgressiveUnfreezeHook: training ended at iteration '
                      f'{runner.iter}, before unfreeze_iter '
                      f'{self.unfreeze_iter}', logger='current',
                      level=logging.WARNING)
