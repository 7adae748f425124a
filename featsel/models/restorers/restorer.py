r"""The trainable restoration model of SPEC S3: the global-local backbone,
per-task adapters and per-task loss recipes, on mixed-task batches."""
import logging
from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from ...registry import LOSSES, MODELS
from ...utils import ConfigError, DataError
from ..losses.restoration_losses import RestorationLoss
from .global_local_restorer import GlobalLocalRestorer

SampleList = List[BaseDataElement]
#: keys of ``test_cfg`` (arguments of :func:`featsel.apis.restore_tensor`)
TEST_CFG_KEYS = ('tile', 'overlap', 'blend', 'context')


def group_indices(keys: Sequence[Hashable]) -> Dict[Hashable, List[int]]:
    """Positions of equal keys, in order of first appearance:
    ``['a', 'b', 'a'] -> {'a': [0, 2], 'b': [1]}``."""
    groups: Dict[Hashable, List[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return groups


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _rows(x: Tensor, index: List[int]) -> Tensor:
    """``x[index]`` without a copy when ``index`` is every row in order."""
    if index == list(range(x.shape[0])):
        return x
    return x[torch.as_tensor(index, device=x.device)]


@MODELS.register_module()
class TaskAdaptedRestorer(BaseModel):
    r"""Restores degraded images with a :class:`GlobalLocalRestorer` whose
    adapters are chosen by each sample's task.

    **Modes.** Without ``adapter`` the model is the *dense-unified*
    baseline: one backbone for every task, trained on all tasks mixed. With
    ``adapter`` (an EXPERTS config such as ``dict(type='BottleneckAdapter',
    ratio=1/16)``) each task of ``adapter_tasks`` gets its own adapters,
    hung where the backbone's ``adapter_position`` says; an *expert* is the
    model with one task's adapters (``adapter_tasks=['dehaze']``), usually
    started from the dense checkpoint (adapters start as the identity, so
    the expert starts as the dense model). A sample whose task has no
    adapter runs through the backbone alone.

    **Loss** on a batch of ``B`` samples of mixed tasks: the samples are
    grouped by the adapter they use, the backbone runs once per group
    (``backbone(x_g, return_global=False, adapter_task=a_g)``), and each
    sample is scored by its task's recipe:

    .. math::

        L = \sum_t \frac{n_t}{B} \sum_{\ell \in R_t}
            \ell(\hat y_t, y_t, x_t)

    with ``n_t`` the samples of task ``t`` and ``R_t`` its recipe
    (``losses[t]``), so every sample weighs the same. Each term is logged as
    ``'<task>.<loss_name>'`` (already multiplied by ``n_t / B``). A recipe
    entry with ``optional=True`` whose build fails because a file is missing
    (LPIPS without local weights) is left out with one logged message.

    **Predict** sets ``pred_img`` (the restored image, float ``(3, H, W)``,
    not clipped) and ``lq_img`` (the input, for the metric's input scores)
    on each data sample: whole images, or "global, then tile" inference
    (:func:`featsel.apis.restore_tensor`) when ``test_cfg`` is given.
    Images are grouped by adapter and size, one backbone call per group.

    Args:
        backbone (dict): A :class:`GlobalLocalRestorer` config.
        losses (dict[str, list[dict]]): Task -> loss recipe, a list of
            restoration loss configs (``CharbonnierLoss``, ``SSIMLoss``,
            ``SobelEdgeLoss``, ...; each called ``loss(pred, target, lq)``),
            an entry may carry ``optional=True``. Its keys are the tasks the
            model trains on.
        adapter (dict, optional): Adapter config registered for every task
            of ``adapter_tasks``; None for the dense-unified model.
        adapter_tasks (Sequence[str], optional): Tasks that get adapters
            (keys of ``losses``). Defaults to every task when ``adapter`` is
            given.
        test_cfg (dict, optional): ``tile``, ``overlap``, ``blend``,
            ``context`` of tiled inference; None restores whole images.
        data_preprocessor (dict | nn.Module, optional): Defaults to
            ``dict(type='RestorationDataPreprocessor')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 losses: Mapping[str, Sequence[dict]],
                 adapter: Optional[dict] = None,
                 adapter_tasks: Optional[Sequence[str]] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Optional[dict] = None) -> None:
        # built here from featsel's registry, so the model also builds
        # where another default scope is set (BaseModel builds from root)
        if not isinstance(data_preprocessor, nn.Module):
            data_preprocessor = MODELS.build(
                data_preprocessor or dict(type='RestorationDataPreprocessor'))
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        if not isinstance(self.backbone, GlobalLocalRestorer):
            raise ConfigError(f'model.backbone must be a GlobalLocalRestorer, '
                              f'got {type(self.backbone).__name__}')
        if not losses:
            raise ConfigError('model.losses must give a loss recipe for at '
                              'least one task')
        bad = [task for task in losses if not task or '.' in task]
        if bad:
            raise ConfigError(f'model.losses has bad task names {bad}: a task '
                              'name is non-empty and has no "."')
        self.losses = nn.ModuleDict({
            task: nn.ModuleList(self._build_recipe(task, recipe))
            for task, recipe in losses.items()
        })
        self._register_adapters(adapter, adapter_tasks)
        unknown = sorted(set(test_cfg or {}) - set(TEST_CFG_KEYS))
        if unknown:
            raise ConfigError(f'model.test_cfg has unknown keys {unknown}; '
                              f'use {list(TEST_CFG_KEYS)}')
        self.test_cfg = None if test_cfg is None else dict(test_cfg)
        self._log_parameters()

    # ------------------------------------------------------------------ #
    # construction
    # ------------------------------------------------------------------ #
    @property
    def tasks(self) -> List[str]:
        """Tasks with a loss recipe."""
        return list(self.losses.keys())

    @staticmethod
    def _build_recipe(task: str,
                      recipe: Sequence[dict]) -> List[RestorationLoss]:
        key = f'model.losses.{task}'
        if not recipe:
            raise ConfigError(f'{key} is empty: give at least one loss')
        built: List[RestorationLoss] = []
        for entry in recipe:
            cfg = dict(entry)
            optional = cfg.pop('optional', False)
            try:
                loss = LOSSES.build(cfg)
            except FileNotFoundError as err:
                if not optional:
                    raise
                print_log(f'{key}: {cfg.get("type")} is left out of the '
                          f'recipe ({err})', logger='current',
                          level=logging.WARNING)
                continue
            if not isinstance(loss, RestorationLoss):
                raise ConfigError(
                    f'{key}: {type(loss).__name__} is not a restoration loss '
                    '(called loss(pred, target, lq)); use CharbonnierLoss, '
                    'PixelL1Loss, SSIMLoss, SobelEdgeLoss, '
                    'RainDirectionLoss, SnowMaskWeightedLoss or LPIPSLoss')
            built.append(loss)
        names = [loss.loss_name for loss in built]
        if len(set(names)) != len(names):
            raise ConfigError(f'{key} uses a loss_name twice ({names}); give '
                              'each term its own loss_name')
        return built

    def _register_adapters(self, adapter: Optional[dict],
                           adapter_tasks: Optional[Sequence[str]]) -> None:
        if adapter is None:
            if adapter_tasks:
                raise ConfigError('model.adapter_tasks needs model.adapter '
                                  '(the adapter config)')
            return
        tasks = self.tasks if adapter_tasks is None else list(adapter_tasks)
        unknown = [t for t in tasks if t not in self.losses]
        if unknown or not tasks:
            raise ConfigError(
                f'model.adapter_tasks {tasks} must name tasks of model.losses '
                f'{self.tasks}')
        for task in tasks:
            self.backbone.register_adapter(task, adapter)

    def parameter_counts(self) -> Dict[str, int]:
        """``{'backbone': n, '<task>': n_t, ...}``: parameters of the
        backbone without adapters, and of each task's adapters."""
        adapters = self.backbone.adapters
        counts = {task: _numel(module) for task, module in adapters.items()}
        return dict(backbone=_numel(self.backbone) - _numel(adapters),
                    **counts)

    def _log_parameters(self) -> None:
        counts = self.parameter_counts()
        base = counts.pop('backbone')
        parts = [f'backbone {base} parameters'] + [
            f'adapters of "{task}" {n} ({100 * n / base:.2f} % of the '
            'backbone)' for task, n in counts.items()
        ]
        print_log(f'{type(self).__name__}: ' + '; '.join(parts),
                  logger='current')

    # ------------------------------------------------------------------ #
    # tasks of samples
    # ------------------------------------------------------------------ #
    def adapter_for(self, task: Optional[str]) -> Optional[str]:
        """The adapter a sample of ``task`` runs with (None: none)."""
        return task if task in self.backbone.adapters else None

    def _train_task(self, sample: BaseDataElement) -> str:
        task = sample.metainfo.get('task')
        if task is None:
            raise DataError('a training sample has no "task" in its '
                            'metainfo (PackRestorationInputs meta_keys)')
        if task not in self.losses:
            raise ConfigError(f'task "{task}" has no loss recipe; '
                              f'model.losses has {self.tasks}')
        return task

    # ------------------------------------------------------------------ #
    # BaseModel
    # ------------------------------------------------------------------ #
    def forward(self,
                inputs: Union[Tensor, List[Tensor]],
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor'):
        """``mode='loss'``: dict of losses; ``'predict'``: data samples
        with ``pred_img``; ``'tensor'``: the restored images ((B, 3, H, W),
        or a list for images of different sizes)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._restore_all(inputs, data_samples, tiled=False)
        raise ValueError(f'mode must be "loss", "predict" or "tensor", got '
                         f'"{mode}"')

    def loss(self, inputs: Tensor,
             data_samples: SampleList) -> Dict[str, Tensor]:
        """The task recipes on a mixed-task batch (class docstring).

        Args:
            inputs (Tensor): (B, 3, H, W) degraded images in [0, 1].
            data_samples (list): With ``gt_img`` (3, H, W) in [0, 1] and
                ``task`` in the metainfo.

        Returns:
            dict[str, Tensor]: ``'<task>.<loss_name>'`` -> scalar.
        """
        if not isinstance(inputs, Tensor):
            raise DataError('training needs a stacked batch of one image '
                            'size')
        tasks = [self._train_task(s) for s in data_samples]
        if any('gt_img' not in s for s in data_samples):
            raise DataError('a training sample has no gt_img (the clean '
                            'target)')
        target = torch.stack([s.gt_img for s in data_samples])
        batch = len(tasks)
        losses: Dict[str, Tensor] = {}
        adapters = [self.adapter_for(t) for t in tasks]
        for adapter_task, index in group_indices(adapters).items():
            x = _rows(inputs, index)
            pred = self.backbone(x, return_global=False,
                                 adapter_task=adapter_task)
            y = _rows(target, index)
            for task, sub in group_indices([tasks[i] for i in index]).items():
                share = len(sub) / batch
                args = (_rows(pred, sub), _rows(y, sub), _rows(x, sub))
                for term in self.losses[task]:
                    losses[f'{task}.{term.loss_name}'] = share * term(*args)
        return losses

    def predict(self,
                inputs: Union[Tensor, List[Tensor]],
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Restore each image with its task's adapter.

        Args:
            inputs (Tensor | list[Tensor]): (B, 3, H, W), or a list of
                (3, H, W) of different sizes, in [0, 1].
            data_samples (list, optional): The samples' ``task`` chooses
                the adapter (none without one).

        Returns:
            list[BaseDataElement]: The data samples with ``pred_img`` and
            ``lq_img`` (float (3, H, W)).
        """
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(inputs))]
        outputs = self._restore_all(inputs, data_samples,
                                    tiled=self.test_cfg is not None)
        for sample, x, y in zip(data_samples, inputs, outputs):
            sample.pred_img = y
            sample.lq_img = x
        return data_samples

    def _restore_all(self, inputs: Union[Tensor, List[Tensor]],
                     data_samples: Optional[SampleList],
                     tiled: bool) -> Union[Tensor, List[Tensor]]:
        """Restore every image, one backbone call per (adapter, size)."""
        images = list(inputs)
        tasks = [s.metainfo.get('task') for s in data_samples] \
            if data_samples is not None else [None] * len(images)
        keys = [(self.adapter_for(t), tuple(x.shape))
                for t, x in zip(tasks, images)]
        outputs: List[Optional[Tensor]] = [None] * len(images)
        for (adapter_task, _), index in group_indices(keys).items():
            x = torch.stack([images[i] for i in index])
            if tiled:
                from featsel.apis.restoration import restore_tensor
                y = restore_tensor(self.backbone, x, adapter_task,
                                   **self.test_cfg)
            else:
                y = self.backbone(x, return_global=False,
                                  adapter_task=adapter_task)
            for row, i in enumerate(index):
                outputs[i] = y[row]
        if isinstance(inputs, Tensor):
            return torch.stack(outputs)
        return outputs
