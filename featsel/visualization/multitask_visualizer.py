"""Side-by-side panels of every dense task, each drawn as its kind says."""
from typing import Dict, List, Mapping, Optional, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
from mmengine.structures import BaseDataElement
from mmengine.visualization import Visualizer

from featsel.models.segmentors.multitask.task_kinds import (TASK_KINDS,
                                                            TaskKind)
from featsel.registry import VISUALIZERS
from featsel.utils import ConfigError

_BLANK = 96


@VISUALIZERS.register_module()
class MultiTaskSegVisualizer(Visualizer):
    """Draw the ground truth and predictions of dense tasks as panel rows.

    For a data sample holding ``gt_<task>`` and/or ``pred_<task>`` PixelData
    (1, H, W), :meth:`add_datasample` draws a row ``image | task 1 | task 2
    | ...`` for the ground truth (top) and one for the prediction (below).
    Each task is drawn as its kind says (the task-kind table,
    :mod:`featsel.models.segmentors.multitask.task_kinds`): masks as class
    colours blended onto the image (class 1 red), signed distances with a
    diverging colour map (blue inside, red outside, white at the contour),
    boundaries in yellow on the dimmed image. The kind and number of
    classes come from the metainfo the segmentor writes with
    ``pred_<task>``; ``task_kinds`` names them for samples without
    predictions.

    Args:
        name (str): Instance name. Defaults to 'visualizer'.
        image (np.ndarray, optional): Initial image (H, W, 3) RGB.
            Defaults to None.
        vis_backends (list[dict], optional): Visual backend configs.
            Defaults to None.
        save_dir (str, optional): Root directory of the backends.
            Defaults to None.
        task_kinds (dict, optional): Task name -> kind (``'mask'``) or
            ``dict(kind=..., num_classes=...)``; these tasks come first in
            the panel order. Defaults to None: the kinds the predictions
            carry, in the sample's order.
        alpha (float): Opacity of the mask overlay. Defaults to 0.5.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 task_kinds: Optional[Dict[str, Union[str, dict]]] = None,
                 alpha: float = 0.5) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir)
        self.task_kinds: Dict[str, Tuple[str, int]] = {}
        for task, cfg in (task_kinds or {}).items():
            cfg = dict(kind=cfg) if isinstance(cfg, str) else dict(cfg)
            kind = cfg.pop('kind', None)
            if kind not in TASK_KINDS or set(cfg) - {'num_classes'}:
                raise ValueError(
                    f'task_kinds["{task}"] = {kind!r}{cfg or ""}: give a '
                    f'kind of {sorted(TASK_KINDS)} or dict(kind=..., '
                    'num_classes=...)')
            self.task_kinds[task] = (kind, int(cfg.get('num_classes', 2)))
        self.alpha = alpha

    def check_model_tasks(self, model_tasks: Mapping) -> None:
        """Fail before any drawing if ``task_kinds`` names a task the model
        lacks or gives it another kind.

        Args:
            model_tasks (Mapping[str, TaskSpec]): ``model.tasks``.

        Raises:
            ConfigError: Naming ``visualizer.task_kinds.<task>``.
        """
        for task, (kind, num_classes) in self.task_kinds.items():
            key = f'visualizer.task_kinds.{task}'
            if task not in model_tasks:
                raise ConfigError(
                    f'{key} names a task the model lacks; model.tasks has '
                    f'{sorted(model_tasks)} (predictions carry their kind, '
                    'so task_kinds may stay unset)')
            spec = model_tasks[task]
            if (kind, num_classes) != (spec.kind, spec.num_classes):
                raise ConfigError(
                    f'{key} is {kind!r} with {num_classes} classes, but '
                    f'model.tasks.{task} is {spec.kind!r} with '
                    f'{spec.num_classes}')

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[BaseDataElement] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0) -> None:
        """Draw the panels and store, show or write them.

        The result goes to ``out_file`` when given, else to the visual
        backends through :meth:`add_image`.

        Args:
            name (str): Image name in the backends and the window title.
            image (np.ndarray): (H, W, 3) RGB uint8 image.
            data_sample (BaseDataElement, optional): Sample holding
                ``gt_<task>`` / ``pred_<task>`` PixelData. Defaults to None,
                which draws the image alone.
            draw_gt (bool): Draw the ground-truth row. Defaults to True.
            draw_pred (bool): Draw the prediction row. Defaults to True.
            show (bool): Show the result in a window. Defaults to False.
            wait_time (float): Seconds the window stays open. Defaults to 0.
            out_file (str, optional): PNG path to write instead of the
                backends. Defaults to None.
            step (int): Global step for the backends. Defaults to 0.
        """
        drawn = self.draw_panels(image, data_sample, draw_gt, draw_pred)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)

    def draw_panels(self,
                    image: np.ndarray,
                    data_sample: Optional[BaseDataElement] = None,
                    draw_gt: bool = True,
                    draw_pred: bool = True) -> np.ndarray:
        """Compose the ground-truth and prediction rows.

        Args:
            image (np.ndarray): (H, W, 3) RGB uint8 image.
            data_sample (BaseDataElement, optional): See
                :meth:`add_datasample`.
            draw_gt (bool): Draw the ground-truth row. Defaults to True.
            draw_pred (bool): Draw the prediction row. Defaults to True.

        Returns:
            np.ndarray: (R * H, (1 + T) * W, 3) uint8 RGB for R drawn rows and
            T tasks; the image itself when there is nothing to draw.
        """
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if data_sample is None:
            return image
        tasks = self._tasks(data_sample)
        rows = []
        for prefix, wanted in (('gt', draw_gt), ('pred', draw_pred)):
            if wanted and any(f'{prefix}_{t}' in data_sample for t in tasks):
                rows.append(self._draw_row(image, data_sample, prefix, tasks))
        return np.concatenate(rows, axis=0) if rows else image

    def _tasks(self, data_sample: BaseDataElement
               ) -> Dict[str, Tuple[TaskKind, int]]:
        """Task -> (kind, num_classes) of the tasks to draw: ``task_kinds``
        first, then every ``pred_<task>`` carrying its kind, in the order of
        the sample's metainfo ``tasks`` (the model's), else by name."""
        tasks = {
            t: (TASK_KINDS[k], n)
            for t, (k, n) in self.task_kinds.items()
            if f'gt_{t}' in data_sample or f'pred_{t}' in data_sample
        }
        order = list(data_sample.metainfo.get('tasks', ()))
        named = sorted(k[5:] for k in data_sample.keys()
                       if k.startswith('pred_'))
        for task in order + [t for t in named if t not in order]:
            field = data_sample.get(f'pred_{task}')
            kind = getattr(field, 'metainfo', {}).get('kind')
            if task in tasks or not kind:
                continue
            if kind not in TASK_KINDS:
                raise ValueError(f'pred_{task} carries the unknown kind '
                                 f'{kind!r}; known: {sorted(TASK_KINDS)}')
            tasks[task] = (TASK_KINDS[kind],
                           int(field.metainfo.get('num_classes', 2)))
        if not tasks:
            fields = [
                k for k in data_sample.keys()
                if k.startswith(('gt_', 'pred_'))
            ]
            if fields:
                raise ValueError(
                    f'None of the fields {fields} carries its task kind and '
                    f'none is in task_kinds {self.task_kinds}; name them in '
                    'task_kinds=dict(<task>=<kind>).')
        return tasks

    def _draw_row(self, image: np.ndarray, data_sample: BaseDataElement,
                  prefix: str, tasks: Dict[str, Tuple[TaskKind, int]]
                  ) -> np.ndarray:
        """(H, (1 + T) * W, 3) panels of one row (``prefix`` 'gt'/'pred')."""
        panels = [draw_label(image.copy(), 'image' if prefix == 'gt' else '')]
        for task, (kind, num_classes) in tasks.items():
            field = f'{prefix}_{task}'
            if field in data_sample:
                value = _resize(_as_map(data_sample.get(field)),
                                image.shape[:2], kind.smooth)
                panel = kind.draw(image, value, num_classes, self.alpha)
                panels.append(draw_label(panel, f'{prefix} {task}'))
            else:
                blank = np.full_like(image, _BLANK)
                panels.append(draw_label(blank, f'no {field}'))
        return np.concatenate(panels, axis=1)


def _resize(value: np.ndarray, size: Tuple[int, int],
            smooth: bool) -> np.ndarray:
    """(h, w) map -> (H, W): bilinear for continuous maps, nearest for
    labels."""
    h, w = size
    if smooth:
        return cv2.resize(value.astype(np.float32), (w, h),
                          interpolation=cv2.INTER_LINEAR)
    return cv2.resize(value.astype(np.int32), (w, h),
                      interpolation=cv2.INTER_NEAREST)


def _as_map(pixel_data: BaseDataElement) -> np.ndarray:
    """(H, W) numpy view of a PixelData holding (1, H, W)."""
    data = pixel_data.data
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    return data.reshape(data.shape[-2:])


def draw_label(panel: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` in the top-left corner of ``panel`` (in place).

    Panels too small to keep most of their content visible stay unlabelled.
    """
    if not text:
        return panel
    scale = max(0.3, panel.shape[0] / 400)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if 4 * (th + base + 4) > panel.shape[0] or tw + 4 > panel.shape[1]:
        return panel
    cv2.rectangle(panel, (0, 0), (tw + 4, th + base + 4), (0, 0, 0), -1)
    cv2.putText(panel, text, (2, th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return panel
