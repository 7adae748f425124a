"""Dice/IoU, SDF error and boundary F-score for multi-task segmentation."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from featsel.evaluation.functional import (boundary_scores, dice, iou,
                                           mean_absolute_error)
from featsel.registry import METRICS


@METRICS.register_module()
class MultiTaskSegMetric(BaseMetric):
    """Per-image scores of a mask task, an SDF task and a boundary task,
    averaged over images.

    Reads ``gt_<task>`` and ``pred_<task>`` PixelData (1, H, W) from each
    data sample. Keys (prefixed with the task name):

    - ``<mask_task>/dice``, ``/iou``: see :func:`featsel.evaluation.dice`.
      ``/dice_all_fg`` and ``/dice_all_bg``: Dice of the trivial
      all-foreground and all-background predictors on the same images, the
      reference points any model must beat.
    - ``<sdf_task>/mae``: mean absolute error of the SDF.
    - ``<boundary_task>/precision``, ``/recall``, ``/f_score``: see
      :func:`featsel.evaluation.boundary_scores`.

    Values are floats rounded to 4 decimals (not percent).

    Args:
        mask_task (str, optional): Name of the binary mask task; None skips
            it. Defaults to 'seg'.
        sdf_task (str, optional): Name of the SDF task; None skips it.
            Defaults to 'sdf'.
        boundary_task (str, optional): Name of the boundary task; None skips
            it. Defaults to 'bnd'.
        boundary_tolerance (float): Boundary match tolerance in pixels.
            Defaults to 2.
        collect_device (str): 'cpu' or 'gpu', for collecting results across
            ranks. Defaults to 'cpu'.
        prefix (str, optional): Prefix added to the keys by mmengine.
            Defaults to None.
    """

    def __init__(self,
                 mask_task: Optional[str] = 'seg',
                 sdf_task: Optional[str] = 'sdf',
                 boundary_task: Optional[str] = 'bnd',
                 boundary_tolerance: float = 2,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if mask_task is None and sdf_task is None and boundary_task is None:
            raise ValueError('MultiTaskSegMetric needs at least one task; '
                             'all of mask_task, sdf_task and boundary_task '
                             'are None.')
        self.mask_task = mask_task
        self.sdf_task = sdf_task
        self.boundary_task = boundary_task
        self.boundary_tolerance = boundary_tolerance

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
        if self.mask_task is not None:
            pred, gt = self._pair(sample, self.mask_task)
            t = self.mask_task
            scores[f'{t}/dice'] = dice(pred, gt)
            scores[f'{t}/iou'] = iou(pred, gt)
            scores[f'{t}/dice_all_fg'] = dice(np.ones_like(gt), gt)
            scores[f'{t}/dice_all_bg'] = dice(np.zeros_like(gt), gt)
        if self.sdf_task is not None:
            pred, gt = self._pair(sample, self.sdf_task)
            scores[f'{self.sdf_task}/mae'] = mean_absolute_error(pred, gt)
        if self.boundary_task is not None:
            pred, gt = self._pair(sample, self.boundary_task)
            precision, recall, f_score = boundary_scores(
                pred, gt, self.boundary_tolerance)
            t = self.boundary_task
            scores[f'{t}/precision'] = precision
            scores[f'{t}/recall'] = recall
            scores[f'{t}/f_score'] = f_score
        return scores

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
