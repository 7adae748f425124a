"""PSNR, SSIM and LPIPS of restored images, per task and over tasks, with
bootstrap intervals, per-image records, a run summary and pictures."""
import logging
import os.path as osp
import warnings
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub, MMLogger, print_log

from featsel.registry import METRICS
from featsel.utils import (ConfigError, DataError, dump_json_atomic,
                           write_bytes_atomic)

from ..lpips import LPIPS
from ..restoration import as_chw_float64, image_quality
from ..restoration_report import (PER_IMAGE_FILE, SUMMARY_FILE,
                                  provenance, scores_by_task,
                                  statistics_note, summarise_scores,
                                  write_per_image)

#: keys of ``run_info`` copied into the summary (seed 002 §6)
RUN_INFO_KEYS = ('model', 'backbone', 'track', 'settings', 'efficiency',
                 'moe')
#: optional fields of a data sample copied into its record
_PASSED_ON = ('dataset', 'cost', 'moe')


@METRICS.register_module()
class RestorationMetric(BaseMetric):
    """Scores restored RGB images against the clean ones.

    Per image: PSNR and SSIM (:mod:`featsel.evaluation.restoration`, data
    range 1, after ``crop_border``; the prediction clipped to [0, 1] first,
    as a saved picture would be) and LPIPS when weight files are given;
    the same for the degraded input when the sample carries it. Then per
    task and over tasks (the unweighted mean of the task means, "macro"):
    means with percentile-bootstrap 95 % intervals, and the H-mean of PSNR
    and -LPIPS (:func:`featsel.evaluation.statistics.hmean_psnr_nlpips`).

    Data sample fields read (a dict, or ``DataSample.to_dict()``):

    - ``pred_img``, ``gt_img``: ``(3, H, W)`` float RGB in [0, 1] (tensor or
      array, or PixelData with such ``data``);
    - ``task`` (str): the degradation (``'dehaze'``, ``'derain'`` ...);
    - ``img_id`` (str), else the file name of ``img_path``;
    - ``lq_img`` ``(3, H, W)``, else the image file ``img_path``: the
      degraded input (optional);
    - ``severity`` (float), ``crop_border`` (int), ``dataset`` (str),
      ``cost`` and ``moe`` (dicts, copied to the record): optional.

    Returned keys (floats): ``psnr``, ``ssim`` (macro), ``<task>/psnr``,
    ``<task>/ssim``, with LPIPS also ``lpips``, ``<task>/lpips`` and
    ``hmean_psnr_nlpips``; for the degraded input ``input/psnr``,
    ``input/ssim``. Files, written to ``out_dir``: ``per_image.jsonl``,
    ``summary.json`` (schemas in :mod:`featsel.evaluation.restoration_report`)
    and ``panels/<task>_<id>.png`` (``degraded | output | clean`` with PSNR)
    for the first ``num_panels`` images of each evaluation.

    Args:
        crop_border (int, optional): Pixels dropped on every side before
            scoring. None: each sample's ``crop_border`` (0 when absent).
        lpips (dict, optional): ``dict(alexnet_path=..., lin_path=...)``,
            local weight files of :class:`~featsel.evaluation.lpips.LPIPS`.
            A missing file is reported (naming it) and LPIPS is skipped.
            None: no LPIPS.
        n_resamples (int): Bootstrap resamples. Defaults to 10000.
        confidence (float): Interval coverage. Defaults to 0.95.
        seed (int): Bootstrap seed. Defaults to 0.
        out_dir (str, optional): Folder of the files. None: ``restoration/``
            in the run's timestamped log folder (``<work_dir>/<timestamp>/``)
            when a runner runs the evaluation, else no files (a warning).
        num_panels (int): Pictures per evaluation. Defaults to 4.
        run_info (dict, optional): What the run is, copied into the summary:
            any of ``model``, ``backbone``, ``track``, ``settings`` (e.g.
            ``dict(tile=512, overlap=64, blend='hann', tta=False)``),
            ``efficiency``, ``moe``.
        checkpoint (str, optional): Weights file hashed into the summary.
            None: the runner's ``load_from`` when the runner is not training
            (``tools/test.py``); during training no file holds the weights
            evaluated, and the summary says so.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Key prefix added by mmengine.
    """

    def __init__(self,
                 crop_border: Optional[int] = None,
                 lpips: Optional[dict] = None,
                 n_resamples: int = 10000,
                 confidence: float = 0.95,
                 seed: int = 0,
                 out_dir: Optional[str] = None,
                 num_panels: int = 4,
                 run_info: Optional[dict] = None,
                 checkpoint: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if crop_border is not None and crop_border < 0:
            raise ConfigError(f'RestorationMetric.crop_border must be >= 0, '
                              f'got {crop_border}')
        unknown = sorted(set(run_info or {}) - set(RUN_INFO_KEYS))
        if unknown:
            raise ConfigError(f'RestorationMetric.run_info has unknown keys '
                              f'{unknown}; use {list(RUN_INFO_KEYS)}')
        self.crop_border = crop_border
        self.lpips = self._load_lpips(lpips)
        self.n_resamples = n_resamples
        self.confidence = confidence
        self.seed = seed
        self.out_dir = out_dir
        self.num_panels = num_panels
        self.run_info = dict(run_info or {})
        self.checkpoint = checkpoint
        self._panels_drawn = 0

    @staticmethod
    def _load_lpips(cfg: Optional[dict]) -> Optional[LPIPS]:
        if cfg is None:
            return None
        if set(cfg) != {'alexnet_path', 'lin_path'}:
            raise ConfigError('RestorationMetric.lpips must be dict('
                              'alexnet_path=..., lin_path=...), got keys '
                              f'{sorted(cfg)}')
        try:
            return LPIPS.from_files(cfg['alexnet_path'], cfg['lin_path'])
        except FileNotFoundError as err:
            warnings.warn(f'RestorationMetric scores no LPIPS: {err}',
                          stacklevel=3)
            return None

    # --- per image --------------------------------------------------------

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Score each sample and keep its per-image record.

        Args:
            data_batch: The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with the fields of
                the class docstring.
        """
        for sample in data_samples:
            record, images = self._score(sample)
            self.results.append(record)
            if self._panels_drawn < self.num_panels and is_main_process():
                self._draw(record, images)
                self._panels_drawn += 1

    def _score(self, sample: Mapping) -> tuple:
        """The record of one sample and its images (for the panel)."""
        for field in ('pred_img', 'gt_img', 'task'):
            if field not in sample:
                raise DataError(f'RestorationMetric needs "{field}" in each '
                                f'data sample; this one has {sorted(sample)}')
        image_id = sample.get('img_id') or (
            osp.basename(sample['img_path']) if sample.get('img_path')
            else None)
        if image_id is None:
            raise DataError('RestorationMetric needs "img_id" or "img_path" '
                            f'in each data sample; this one has '
                            f'{sorted(sample)}')
        pred = as_chw_float64(_data(sample['pred_img']), 'pred_img').clamp(
            0, 1)
        gt = as_chw_float64(_data(sample['gt_img']), 'gt_img')
        if pred.shape != gt.shape:
            raise DataError(f'{image_id}: pred_img {tuple(pred.shape)} and '
                            f'gt_img {tuple(gt.shape)} differ in shape')
        crop = (int(sample.get('crop_border') or 0)
                if self.crop_border is None else self.crop_border)
        record = dict(id=str(image_id), task=str(sample['task']),
                      severity=_optional_float(sample.get('severity')),
                      crop_border=crop, metrics=self._quality(pred, gt, crop))
        lq = self._degraded(sample, image_id, gt.shape)
        if lq is not None:
            record['input_metrics'] = self._quality(lq, gt, crop)
        record.update({k: sample[k] for k in _PASSED_ON
                       if sample.get(k) is not None})
        return record, (lq, pred, gt)

    def _quality(self, image: torch.Tensor, gt: torch.Tensor,
                 crop: int) -> Dict[str, float]:
        scores = image_quality(image, gt, crop)
        if self.lpips is not None:
            if crop:
                image = image[:, crop:-crop, crop:-crop]
                gt = gt[:, crop:-crop, crop:-crop]
            with torch.no_grad():
                scores['lpips'] = self.lpips(image[None].float(),
                                             gt[None].float()).item()
        return scores

    @staticmethod
    def _degraded(sample: Mapping, image_id: str,
                  shape: torch.Size) -> Optional[torch.Tensor]:
        """The degraded input from ``lq_img`` or ``img_path``, if any."""
        if sample.get('lq_img') is not None:
            lq = as_chw_float64(_data(sample['lq_img']), 'lq_img')
        elif sample.get('img_path'):
            import mmcv
            path = sample['img_path']
            if not osp.isfile(path):
                raise DataError(f'{image_id}: img_path "{path}" does not '
                                'exist')
            lq = torch.from_numpy(
                mmcv.imread(path, channel_order='rgb').transpose(
                    2, 0, 1).astype(np.float64) / 255)
        else:
            return None
        if lq.shape != shape:
            raise DataError(f'{image_id}: the degraded input is '
                            f'{tuple(lq.shape)}, the clean image '
                            f'{tuple(shape)}')
        return lq

    # --- files --------------------------------------------------------------

    def _resolved_out_dir(self) -> Optional[str]:
        if self.out_dir:
            return self.out_dir
        log_file = MMLogger.get_current_instance().log_file
        return (osp.join(osp.dirname(log_file), 'restoration')
                if log_file else None)

    def _draw(self, record: dict, images: tuple) -> None:
        out_dir = self._resolved_out_dir()
        if out_dir is None:
            return
        import cv2

        from ..restoration_panels import draw_restoration_panel
        lq, pred, gt = images
        columns = [] if lq is None else [
            (f"degraded {record['input_metrics']['psnr']:.2f} dB", lq)]
        columns += [(f"output {record['metrics']['psnr']:.2f} dB", pred),
                    ('clean', gt)]
        picture = draw_restoration_panel(columns)
        ok, png = cv2.imencode('.png', picture[..., ::-1])
        if not ok:
            raise RuntimeError('PNG encoding failed')
        name = f"{record['task']}_{record['id']}".replace(osp.sep, '_')
        write_bytes_atomic(png.tobytes(),
                           osp.join(out_dir, 'panels', f'{name}.png'))

    def _checkpoint(self) -> Optional[str]:
        """The weights evaluated: ``checkpoint``, else the runner's
        ``load_from`` when it is not training."""
        if self.checkpoint:
            return self.checkpoint
        hub = MessageHub.get_current_instance()
        text = hub.get_info('cfg')
        if not text or hub.get_info('max_iters') is not None:
            return None
        try:
            return Config.fromstring(text, '.py').get('load_from')
        except Exception as err:  # noqa: BLE001  (the summary still helps)
            print_log(f'RestorationMetric could not read load_from from the '
                      f'runner config ({err}); the summary has no weight '
                      'hash', logger='current', level=logging.WARNING)
            return None

    # --- summary ------------------------------------------------------------

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Summarise the per-image records of all ranks, write the files and
        return the scalar metrics.

        Args:
            results (list[dict]): Per-image records.

        Returns:
            dict[str, float]: The keys of the class docstring.
        """
        self._panels_drawn = 0
        stats = dict(n_resamples=self.n_resamples,
                     confidence=self.confidence, seed=self.seed)
        output = summarise_scores(scores_by_task(results), **stats)
        summary = {key: self.run_info[key] for key in RUN_INFO_KEYS[:3]
                   if key in self.run_info}
        summary['settings'] = dict(
            self.run_info.get('settings', {}),
            crop_border=('per image' if self.crop_border is None else
                         self.crop_border),
            lpips=self.lpips is not None)
        summary.update(output, num_images=len(results))
        inputs = scores_by_task(results, 'input_metrics')
        if inputs:
            summary['input'] = summarise_scores(inputs, **stats)
        summary.update({key: self.run_info[key]
                        for key in ('efficiency', 'moe')
                        if key in self.run_info})
        summary['statistics'] = statistics_note(**stats)
        summary['provenance'] = provenance(self._checkpoint())
        self._write(results, summary)
        return self._scalars(summary)

    def _write(self, results: list, summary: dict) -> None:
        out_dir = self._resolved_out_dir()
        if out_dir is None:
            print_log('RestorationMetric writes no per-image records or '
                      'summary: give out_dir, or evaluate through a runner',
                      logger='current', level=logging.WARNING)
            return
        write_per_image(results, osp.join(out_dir, PER_IMAGE_FILE))
        dump_json_atomic(summary, osp.join(out_dir, SUMMARY_FILE))
        print_log(f'restoration reports written to {out_dir}',
                  logger='current')

    @staticmethod
    def _scalars(summary: dict) -> Dict[str, float]:
        metrics = dict(summary['macro'])
        for task, entry in summary['per_task'].items():
            metrics.update({f'{task}/{key}': entry[key]
                            for key in ('psnr', 'ssim', 'lpips')
                            if key in entry})
        for key, value in summary.get('input', {}).get('macro', {}).items():
            if key != 'hmean_psnr_nlpips':
                metrics[f'input/{key}'] = value
        return {key: round(float(value), 4) for key, value in metrics.items()}


def _data(value):
    """The array of a field: itself, or the ``data`` of a PixelData (or of
    its ``to_dict()``)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value
    if isinstance(value, Mapping):
        return value.get('data')
    return getattr(value, 'data', value)


def _optional_float(value) -> Optional[float]:
    if value is None:
        return None
    return float(value.item() if hasattr(value, 'item') else value)
