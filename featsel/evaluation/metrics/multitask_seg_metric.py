"""Scores of every dense task of a multi-task model, by task kind."""
import warnings
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from featsel.models.segmentors.multitask.task_kinds import (TASK_KINDS,
                                                            TaskKind)
from featsel.registry import METRICS
from featsel.utils import ConfigError

# The arguments before ``tasks``: each named one task of a fixed kind, with
# the defaults below when another of them was given.
_OLD_TASK_ARGS = dict(
    mask_task=('seg', 'mask'),
    sdf_task=('sdf', 'sdf'),
    boundary_task=('bnd', 'boundary'))
_UNSET = object()

TaskList = Union[None, Sequence[str], Mapping[str, Union[str, dict]]]


@METRICS.register_module()
class MultiTaskSegMetric(BaseMetric):
    """Per-image scores of each task, averaged over images.

    Reads ``gt_<task>`` and ``pred_<task>`` PixelData (1, H, W) from each
    data sample and scores them as the task's kind says (the task-kind
    table, :mod:`featsel.models.segmentors.multitask.task_kinds`). The kind
    and number of classes come from the metainfo the segmentor writes with
    ``pred_<task>``, or from ``tasks`` for samples made elsewhere. Keys are
    ``<task>/<score>``:

    - mask: ``dice``, ``iou`` (means over the foreground classes),
      ``dice_all_bg`` and, binary, ``dice_all_fg`` (the trivial predictors'
      Dice, the reference points any model must beat); multi-class also
      ``dice_<c>``, ``iou_<c>`` per foreground class ``c``;
    - sdf: ``mae``;
    - boundary: ``precision``, ``recall``, ``f_score``.

    Values are floats rounded to 4 decimals (not percent).

    Args:
        tasks (list[str] | dict, optional): Tasks to score. None scores
            every task the model predicts. A list names a subset. A dict
            maps a task to its kind, ``'mask'`` or ``dict(kind='mask',
            num_classes=3)``, for predictions that carry no kind. Tasks the
            model lacks are reported when the runner starts (see
            :meth:`check_model_tasks`).
        boundary_tolerance (float): Distance tolerance in pixels of the
            kinds scored by matching contours (boundary F-score).
            Defaults to 2.
        collect_device (str): 'cpu' or 'gpu', for collecting results across
            ranks. Defaults to 'cpu'.
        prefix (str, optional): Prefix added to the keys by mmengine.
            Defaults to None.
        mask_task, sdf_task, boundary_task (str, optional): Deprecated, use
            ``tasks``. Each names the task of its kind, None skips it; when
            any is given the others default to 'seg', 'sdf' and 'bnd'.
    """

    def __init__(self,
                 tasks: TaskList = None,
                 boundary_tolerance: float = 2,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 mask_task=_UNSET,
                 sdf_task=_UNSET,
                 boundary_task=_UNSET) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        old = dict(mask_task=mask_task, sdf_task=sdf_task,
                   boundary_task=boundary_task)
        #: task -> the argument that named it, for error messages
        self._task_args: Dict[str, str] = {}
        if any(v is not _UNSET for v in old.values()):
            if tasks is not None:
                raise ConfigError(
                    'MultiTaskSegMetric: give tasks or the deprecated '
                    'mask_task/sdf_task/boundary_task, not both')
            warnings.warn(
                'MultiTaskSegMetric(mask_task=, sdf_task=, boundary_task=) '
                "is deprecated; use tasks=dict(<task>='<kind>', ...) or "
                'leave tasks unset to score every task of the model',
                FutureWarning, stacklevel=2)
            tasks = {}
            for arg, value in old.items():
                default, kind = _OLD_TASK_ARGS[arg]
                name = default if value is _UNSET else value
                if name is not None:
                    tasks[name] = kind
                    self._task_args[name] = arg
            if not tasks:
                raise ConfigError('MultiTaskSegMetric needs at least one '
                                  'task; mask_task, sdf_task and '
                                  'boundary_task are all None')
        self.declared = self._read_tasks(tasks)
        self.names = None if tasks is None else list(self.declared or tasks)
        self.boundary_tolerance = boundary_tolerance

    def _read_tasks(self, tasks: TaskList) -> Dict[str, Tuple[str, int]]:
        """Declared kinds: task -> (kind, num_classes)."""
        if tasks is None:
            return {}
        if isinstance(tasks, str) or not isinstance(tasks,
                                                    (Sequence, Mapping)):
            raise ConfigError(f'MultiTaskSegMetric.tasks={tasks!r}; give a '
                              'list of task names or a dict task -> kind')
        if not tasks:
            raise ConfigError('MultiTaskSegMetric.tasks is empty; leave it '
                              'unset to score every task of the model')
        if not isinstance(tasks, Mapping):
            return {}
        declared = {}
        for name, cfg in tasks.items():
            cfg = dict(kind=cfg) if isinstance(cfg, str) else dict(cfg)
            kind = cfg.pop('kind', None)
            num_classes = int(cfg.pop('num_classes', 2))
            if kind not in TASK_KINDS or cfg:
                raise ConfigError(
                    f'MultiTaskSegMetric.tasks.{name}: kind {kind!r} '
                    f'(choose from {sorted(TASK_KINDS)}), extra keys '
                    f'{sorted(cfg)}; give a kind or dict(kind=..., '
                    'num_classes=...)')
            declared[name] = (kind, num_classes)
        return declared

    def check_model_tasks(self, model_tasks: Mapping,
                          where: str = 'evaluator') -> None:
        """Fail before any evaluation if a task scored here is not one of
        the model's, or has another kind there.

        Args:
            model_tasks (Mapping[str, TaskSpec]): ``model.tasks``.
            where (str): Config key of this metric, for the message.

        Raises:
            ConfigError: Naming the key, the task and the model's tasks.
        """
        for name in self.names or ():
            key = f'{where}.{self._task_args.get(name, "tasks")}'
            if name not in model_tasks:
                raise ConfigError(
                    f'{key} names task "{name}", which the model lacks; '
                    f'model.tasks has {sorted(model_tasks)}. Score a '
                    'subset with tasks=[...] or leave tasks unset to score '
                    'every task of the model')
            if name in self.declared:
                kind, num_classes = self.declared[name]
                spec = model_tasks[name]
                if (kind, num_classes) != (spec.kind, spec.num_classes):
                    raise ConfigError(
                        f'{key}: task "{name}" is scored as kind {kind!r} '
                        f'with {num_classes} classes, but model.tasks.'
                        f'{name} is {spec.kind!r} with {spec.num_classes}')

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score each sample and keep the per-image values.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): ``SegDataSample.to_dict()`` of the
                model outputs, holding ``gt_<task>`` and ``pred_<task>``.
        """
        for sample in data_samples:
            self.results.append(self._score_sample(sample))

    def _score_sample(self, sample: dict) -> Dict[str, float]:
        """Scores of one image, keyed ``<task>/<name>``."""
        scores = {}
        for task in self._tasks_of(sample):
            pred, gt = self._pair(sample, task)
            kind, num_classes = self._kind_of(sample, task)
            try:
                values = kind.score(pred, gt, num_classes,
                                    self.boundary_tolerance)
            except ValueError as err:
                raise ValueError(f'Task "{task}": {err}') from err
            scores.update({f'{task}/{k}': v for k, v in values.items()})
        return scores

    def _tasks_of(self, sample: dict) -> List[str]:
        """The named tasks, or every ``pred_<task>`` that carries a kind
        (in the model's order, metainfo ``tasks``, else by name)."""
        if self.names is not None:
            return self.names
        carried = sorted(
            k[5:] for k, v in sample.items()
            if k.startswith('pred_') and isinstance(v, dict) and 'kind' in v)
        order = [t for t in sample.get('tasks', ()) if t in carried]
        tasks = order + [t for t in carried if t not in order]
        if not tasks:
            raise ValueError(
                'MultiTaskSegMetric(tasks=None) scores the predictions that '
                'carry their task kind (as MultiTaskSegmentor writes them); '
                f'this sample has none among {sorted(sample)}. Name the '
                'tasks and their kinds in tasks=dict(<task>=<kind>)')
        return tasks

    def _kind_of(self, sample: dict, task: str) -> Tuple[TaskKind, int]:
        """Kind and number of classes of ``task``: declared, or read from
        the metainfo of ``pred_<task>``; both must agree."""
        pred = sample[f'pred_{task}']
        carried = ((pred['kind'], int(pred.get('num_classes', 2)))
                   if 'kind' in pred else None)
        declared = self.declared.get(task)
        if declared and carried and declared != carried:
            raise ValueError(
                f'Task "{task}": MultiTaskSegMetric.tasks declares kind '
                f'{declared[0]!r} with {declared[1]} classes, the prediction '
                f'is {carried[0]!r} with {carried[1]}')
        kind, num_classes = declared or carried or (None, 2)
        if kind not in TASK_KINDS:
            raise ValueError(
                f'Task "{task}": pred_{task} carries no known kind ({kind!r})'
                '; declare it in MultiTaskSegMetric.tasks=dict('
                f'{task}=<kind>) with a kind of {sorted(TASK_KINDS)}')
        return TASK_KINDS[kind], num_classes

    @staticmethod
    def _pair(sample: dict, task: str) -> Tuple[np.ndarray, np.ndarray]:
        """(H, W) numpy prediction and ground truth of ``task``."""
        maps = []
        for field in (f'pred_{task}', f'gt_{task}'):
            if field not in sample:
                raise KeyError(
                    f'MultiTaskSegMetric needs "{field}" for task "{task}"; '
                    f'the data sample has {sorted(sample)}.')
            data = sample[field]['data']
            if isinstance(data, torch.Tensor):
                data = data.detach().cpu().numpy()
            if data.ndim < 2 or data.size != np.prod(data.shape[-2:]):
                raise ValueError(f'{field} must be (1, H, W) or (H, W), got '
                                 f'shape {tuple(data.shape)}.')
            maps.append(data.reshape(data.shape[-2:]))
        if maps[0].shape != maps[1].shape:
            raise ValueError(
                f'Task "{task}": pred_{task} has shape {maps[0].shape} but '
                f'gt_{task} has {maps[1].shape}.')
        return maps[0], maps[1]

    def compute_metrics(self, results: List[Dict[str, float]]) -> dict:
        """Average the per-image scores.

        Args:
            results (list[dict[str, float]]): Per-image scores from all
                ranks.

        Returns:
            dict[str, float]: Mean of each key, rounded to 4 decimals.
        """
        columns = defaultdict(list)
        for scores in results:
            for key, value in scores.items():
                columns[key].append(value)
        return {
            key: round(float(np.mean(values)), 4)
            for key, values in columns.items()
        }
