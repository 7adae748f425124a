"""Collect the gate and weight maps of a few validation images and have
them drawn (the drawing lives in :mod:`featsel.visualization.gate_maps`)."""
import os.path as osp
from typing import Dict, List, Optional

import mmcv
import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook

from ...registry import HOOKS
from ...visualization.gate_maps import (display_image, draw_gate_maps,
                                        group_by_task)
from .gate_diagnostics_hook import collect_gate_records, unwrap_model

__all__ = ['GateMapVisualizationHook', 'draw_gate_maps', 'group_by_task']


@HOOKS.register_module()
class GateMapVisualizationHook(Hook):
    """Draw the gates of the first validation images after each evaluation.

    The first ``num_images`` images of the validation set go one at a time
    through the model's data preprocessor and its ``tensor`` mode; the gate
    records of that pass (see
    :func:`~featsel.engine.hooks.gate_diagnostics_hook.collect_gate_records`)
    are drawn by :func:`featsel.visualization.gate_maps.draw_gate_maps`,
    one PNG per image and task, to
    ``<work_dir>/<timestamp>/gate_maps/iter_<n>/<image>_<task>.png``. Only
    the main process draws; models without gates are skipped.

    Args:
        num_images (int): Validation images to draw. Defaults to 2.
        panel_size (int): Height of one panel in pixels. Defaults to 160.
        add_to_backends (bool): Also pass each picture to the visualizer's
            backends (e.g. TensorBoard) as ``gate_maps_<image>_<task>``.
            Defaults to False.
    """

    priority = 'LOW'

    def __init__(self,
                 num_images: int = 2,
                 panel_size: int = 160,
                 add_to_backends: bool = False) -> None:
        if num_images < 1:
            raise ValueError(f'num_images must be >= 1, got {num_images}')
        if panel_size < 16:
            raise ValueError(f'panel_size must be >= 16, got {panel_size}')
        self.num_images = num_images
        self.panel_size = panel_size
        self.add_to_backends = add_to_backends

    @master_only
    def after_val_epoch(self, runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Draw the gate maps of the first validation images.

        Args:
            runner (Runner): Its ``model``, ``val_dataloader``,
                ``work_dir``, ``timestamp``, ``iter`` and (with
                ``add_to_backends``) ``visualizer`` are used.
            metrics (dict, optional): The evaluation results (unused).
        """
        model = unwrap_model(runner.model)
        dataset = runner.val_dataloader.dataset
        out_dir = osp.join(runner.work_dir, runner.timestamp, 'gate_maps',
                           f'iter_{runner.iter}')
        was_training = model.training
        model.eval()
        try:
            for index in range(min(self.num_images, len(dataset))):
                self._draw(runner, model, dataset[index], index, out_dir)
        finally:
            model.train(was_training)

    def _draw(self, runner, model, item: dict, index: int,
              out_dir: str) -> List[str]:
        """Run one dataset item through the model and write its pictures.

        Returns:
            list[str]: The files written.
        """
        batch = model.data_preprocessor(
            dict(inputs=[item['inputs']], data_samples=[item['data_samples']]),
            False)
        with torch.no_grad():
            model(batch['inputs'], batch['data_samples'], mode='tensor')
        records = collect_gate_records(model)
        if not records:
            return []
        image = display_image(item['inputs'], model.data_preprocessor)
        img_path = item['data_samples'].metainfo.get('img_path')
        stem = (osp.splitext(osp.basename(img_path))[0]
                if img_path else f'val_{index}')
        written = []
        for task, task_records in group_by_task(records).items():
            drawn = draw_gate_maps(image, task_records,
                                   batch['inputs'].shape[-2:],
                                   self.panel_size)
            path = osp.join(out_dir, f'{stem}_{task}.png')
            mmcv.imwrite(mmcv.rgb2bgr(drawn), path)
            written.append(path)
            if self.add_to_backends:
                runner.visualizer.add_image(f'gate_maps_{stem}_{task}',
                                            drawn, step=runner.iter)
        return written

