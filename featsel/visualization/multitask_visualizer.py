"""Side-by-side panels of every dense task: image | mask | SDF | boundary."""
from typing import Dict, List, Optional

import cv2
import matplotlib
import mmcv
import numpy as np
import torch
from mmengine.structures import BaseDataElement
from mmengine.visualization import Visualizer

from featsel.registry import VISUALIZERS

TASK_KINDS = ('mask', 'sdf', 'boundary')
_MASK_COLOUR = np.array([220, 60, 60], np.float32)
_BOUNDARY_COLOUR = np.array([255, 220, 0], np.uint8)
_BLANK = 96


@VISUALIZERS.register_module()
class MultiTaskSegVisualizer(Visualizer):
    """Draw the ground truth and predictions of dense tasks as panel rows.

    For a data sample holding ``gt_<task>`` and/or ``pred_<task>`` PixelData
    (1, H, W), :meth:`add_datasample` draws a row ``image | task 1 | task 2
    | ...`` for the ground truth (top) and one for the prediction (below).
    Each task is drawn by its kind:

    - ``'mask'``: the mask blended onto the image in red;
    - ``'sdf'``: the signed distance in [-1, 1] with a diverging colormap
      (blue inside, red outside, white at the contour);
    - ``'boundary'``: boundary pixels in yellow on the dimmed image.

    Args:
        name (str): Instance name. Defaults to 'visualizer'.
        image (np.ndarray, optional): Initial image (H, W, 3) RGB.
            Defaults to None.
        vis_backends (list[dict], optional): Visual backend configs.
            Defaults to None.
        save_dir (str, optional): Root directory of the backends.
            Defaults to None.
        task_kinds (dict[str, str], optional): Task name -> kind in
            ``('mask', 'sdf', 'boundary')``; also fixes the panel order.
            Defaults to ``dict(seg='mask', sdf='sdf', bnd='boundary')``.
        alpha (float): Opacity of the mask overlay. Defaults to 0.5.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 task_kinds: Optional[Dict[str, str]] = None,
                 alpha: float = 0.5) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir)
        task_kinds = dict(
            seg='mask', sdf='sdf',
            bnd='boundary') if task_kinds is None else dict(task_kinds)
        for task, kind in task_kinds.items():
            if kind not in TASK_KINDS:
                raise ValueError(f'task_kinds["{task}"] = "{kind}" is not '
                                 f'one of {TASK_KINDS}')
        self.task_kinds = task_kinds
        self.alpha = alpha
        self._cmap = matplotlib.colormaps['RdBu_r']

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

    def _tasks(self, data_sample: BaseDataElement) -> List[str]:
        """Tasks of ``task_kinds`` with a gt or pred field in the sample."""
        tasks = [
            t for t in self.task_kinds
            if f'gt_{t}' in data_sample or f'pred_{t}' in data_sample
        ]
        if not tasks:
            fields = [
                k for k in data_sample.keys()
                if k.startswith(('gt_', 'pred_'))
            ]
            if fields:
                raise ValueError(
                    f'None of the fields {fields} belongs to a task in '
                    f'task_kinds {self.task_kinds}; add the task names to '
                    'task_kinds.')
        return tasks

    def _draw_row(self, image: np.ndarray, data_sample: BaseDataElement,
                  prefix: str, tasks: List[str]) -> np.ndarray:
        """(H, (1 + T) * W, 3) panels of one row (``prefix`` 'gt'/'pred')."""
        panels = [draw_label(image.copy(), 'image' if prefix == 'gt' else '')]
        for task in tasks:
            field = f'{prefix}_{task}'
            if field in data_sample:
                panel = self._draw_task(image, _as_map(data_sample.get(field)),
                                        self.task_kinds[task])
                panels.append(draw_label(panel, f'{prefix} {task}'))
            else:
                blank = np.full_like(image, _BLANK)
                panels.append(draw_label(blank, f'no {field}'))
        return np.concatenate(panels, axis=1)

    def _draw_task(self, image: np.ndarray, value: np.ndarray,
                   kind: str) -> np.ndarray:
        """(H, W, 3) uint8 panel of one (h, w) map resized to the image."""
        h, w = image.shape[:2]
        if kind == 'sdf':
            value = cv2.resize(value.astype(np.float32), (w, h),
                               interpolation=cv2.INTER_LINEAR)
            rgba = self._cmap((np.clip(value, -1, 1) + 1) / 2)
            return (rgba[..., :3] * 255).astype(np.uint8)
        value = cv2.resize(value.astype(np.uint8), (w, h),
                           interpolation=cv2.INTER_NEAREST).astype(bool)
        if kind == 'mask':
            panel = image.astype(np.float32)
            panel[value] = ((1 - self.alpha) * panel[value] +
                            self.alpha * _MASK_COLOUR)
            return panel.astype(np.uint8)
        panel = image // 2
        panel[value] = _BOUNDARY_COLOUR
        return panel


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
