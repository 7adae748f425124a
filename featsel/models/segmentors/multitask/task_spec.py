"""What a model must know about one task: its name, kind, classes and
losses. Everything that depends on the kind is read from the task-kind
table (:mod:`.task_kinds`)."""
from dataclasses import dataclass
from typing import List, Mapping, Sequence, Tuple

import torch
from torch import Tensor

from ....utils import ConfigError
from .task_kinds import TASK_KINDS, TaskKind

_KEYS = {'kind', 'loss', 'num_classes'}
_REMOVE_HINT = ('to remove a task, redeclare model.tasks without it in a '
                'config that inherits this one: model = dict(tasks=dict('
                '_delete_=True, <kept task>=dict(kind=..., loss=...), ...))')


@dataclass
class TaskSpec:
    """One task of a multi-task model.

    Args:
        name (str): Task name; targets are read from ``gt_<name>`` and
            predictions written to ``pred_<name>``.
        kind (str): A kind of the task-kind table
            (:data:`~.task_kinds.TASK_KINDS`), e.g. a binary or multi-class
            mask, a boundary map or a signed distance function.
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
        if not isinstance(cfg, Mapping):
            raise ConfigError(
                f'{where} is {cfg!r}; each task is a dict(kind=..., '
                f'loss=..., [num_classes=...]); {_REMOVE_HINT}')
        unknown = set(cfg) - _KEYS
        if unknown:
            raise ConfigError(f'{where} has unknown keys {sorted(unknown)}; '
                              f'allowed: {sorted(_KEYS)}')
        kind = cfg.get('kind')
        if kind not in TASK_KINDS:
            raise ConfigError(f'{where}.kind={kind!r}; choose from '
                              f'{sorted(TASK_KINDS)}')
        num_classes = int(cfg.get('num_classes', 2))
        if num_classes != 2 and not TASK_KINDS[kind].multiclass:
            multi = sorted(k for k, v in TASK_KINDS.items() if v.multiclass)
            raise ConfigError(f'{where}.num_classes applies to the '
                              f'multi-class kinds {multi} only, not to '
                              f'{kind!r}')
        if num_classes < 2:
            raise ConfigError(f'{where}.num_classes={num_classes}; a mask '
                              'has at least 2 classes (background included)')
        losses = cfg.get('loss')
        if not losses:
            raise ConfigError(f'{where}.loss is missing')
        losses = [losses] if isinstance(losses, Mapping) else list(losses)
        return cls(name, kind, losses, num_classes)

    @property
    def kind_spec(self) -> TaskKind:
        """The kind's entry in the task-kind table."""
        return TASK_KINDS[self.kind]

    @property
    def loss_form(self) -> str:
        return self.kind_spec.loss_form

    @property
    def pad_value(self) -> float:
        """Target value of padded pixels: background, far outside for SDF."""
        return self.kind_spec.pad_value

    @property
    def out_channels(self) -> int:
        """Channels of the head output: one logit unless multi-class."""
        return self.kind_spec.out_channels(self.num_classes)

    @property
    def is_multiclass(self) -> bool:
        return self.out_channels > 1

    @property
    def field_meta(self) -> dict:
        """Metainfo written with ``pred_<name>``, so the metric and the
        visualizer read the kind from the prediction itself."""
        return dict(kind=self.kind, num_classes=self.num_classes)

    def activate(self, logits: Tensor) -> Tensor:
        """Map head logits (B, K, H, W) to probabilities or SDF values."""
        return self.kind_spec.activate(logits, self.num_classes)

    def loss_inputs(self, logits: Tensor, target: Tensor):
        """``(pred, target)`` in the form the task's losses take.

        Binary and regression tasks: both (B, 1, H, W), float target.
        Multi-class masks: logits (B, K, H, W), target (B, H, W) long.
        """
        return self.kind_spec.loss_inputs(logits, target, self.num_classes)

    def decide(self, logits: Tensor) -> Tensor:
        """Hard prediction (B, 1, H, W): labels, or SDF values."""
        return self.kind_spec.decide(logits, self.num_classes)

    def synthetic_target(self, shape: Sequence[int],
                         generator: torch.Generator) -> Tensor:
        """A random but plausible ``gt_<name>`` (1, H, W); see
        :meth:`TaskKind.synthetic_target`."""
        return self.kind_spec.synthetic_target(tuple(shape), generator,
                                               self.num_classes)


def make_synthetic_target(task: TaskSpec, shape: Tuple[int, int],
                          generator: torch.Generator) -> Tensor:
    """A random ``gt_<task>`` (1, H, W) for one task of ``model.tasks``:
    random label rectangles turned into the task kind's target (label
    mask, boundary band, signed distance), so benchmarks need no data."""
    return task.synthetic_target(shape, generator)
