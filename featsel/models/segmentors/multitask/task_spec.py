"""What a model must know about one task: its kind and its losses."""
from dataclasses import dataclass
from typing import List, Mapping

import torch
from torch import Tensor

from ....utils import ConfigError

#: kind -> (loss form for uncertainty weighting, output activation)
TASK_KINDS = {
    'mask': 'classification',
    'boundary': 'classification',
    'sdf': 'regression',
}
_KEYS = {'kind', 'loss', 'num_classes'}


@dataclass
class TaskSpec:
    """One task of a multi-task model.

    Args:
        name (str): Task name; targets are read from ``gt_<name>`` and
            predictions written to ``pred_<name>``.
        kind (str): ``'mask'`` (binary or multi-class), ``'boundary'``
            (binary) or ``'sdf'`` (regression in [-1, 1]).
        losses (list[dict]): Loss configs; each takes ``(pred, target)``.
        num_classes (int): Classes of a mask task (2 = binary, one logit).
    """

    name: str
    kind: str
    losses: List[dict]
    num_classes: int = 2

    @classmethod
    def from_cfg(cls, name: str, cfg: Mapping) -> 'TaskSpec':
        """Check and read ``model.tasks.<name>``."""
        where = f'model.tasks.{name}'
        unknown = set(cfg) - _KEYS
        if unknown:
            raise ConfigError(f'{where} has unknown keys {sorted(unknown)}; '
                              f'allowed: {sorted(_KEYS)}')
        kind = cfg.get('kind')
        if kind not in TASK_KINDS:
            raise ConfigError(f'{where}.kind={kind!r}; choose from '
                              f'{sorted(TASK_KINDS)}')
        num_classes = int(cfg.get('num_classes', 2))
        if num_classes != 2 and kind != 'mask':
            raise ConfigError(f'{where}.num_classes applies to mask tasks '
                              'only')
        if num_classes < 2:
            raise ConfigError(f'{where}.num_classes={num_classes}; a mask '
                              'has at least 2 classes (background included)')
        losses = cfg.get('loss')
        if not losses:
            raise ConfigError(f'{where}.loss is missing')
        losses = [losses] if isinstance(losses, Mapping) else list(losses)
        return cls(name, kind, losses, num_classes)

    @property
    def loss_form(self) -> str:
        return TASK_KINDS[self.kind]

    @property
    def pad_value(self) -> float:
        """Target value of padded pixels: background, far outside for SDF."""
        return 1.0 if self.kind == 'sdf' else 0.0

    @property
    def out_channels(self) -> int:
        """Channels of the head output: one logit unless multi-class."""
        return self.num_classes if self.num_classes > 2 else 1

    @property
    def is_multiclass(self) -> bool:
        return self.out_channels > 1

    def activate(self, logits: Tensor) -> Tensor:
        """Map head logits (B, K, H, W) to probabilities or SDF values."""
        if self.kind == 'sdf':
            return torch.tanh(logits)
        return logits.softmax(1) if self.is_multiclass else logits.sigmoid()

    def loss_inputs(self, logits: Tensor, target: Tensor):
        """``(pred, target)`` in the form the task's losses take.

        Binary and regression tasks: both (B, 1, H, W), float target.
        Multi-class masks: logits (B, K, H, W), target (B, H, W) long.
        """
        if self.kind == 'sdf':
            return torch.tanh(logits), target.float()
        if self.is_multiclass:
            return logits, target[:, 0].long()
        return logits, target.float()

    def decide(self, logits: Tensor) -> Tensor:
        """Hard prediction (B, 1, H, W): labels, or SDF values."""
        if self.kind == 'sdf':
            return torch.tanh(logits)
        if self.is_multiclass:
            return logits.argmax(1, keepdim=True)
        return (logits > 0).long()
