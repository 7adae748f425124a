"""Draw multi-task predictions during validation and testing."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmengine.structures import BaseDataElement
from mmengine.utils import mkdir_or_exist

from featsel.registry import HOOKS


@HOOKS.register_module()
class MultiTaskVisualizationHook(Hook):
    """Draw ground truth and predictions with the runner's visualizer
    (e.g. :class:`featsel.visualization.MultiTaskSegVisualizer`).

    - Before the run: the tasks the evaluators score and the visualizer
      names are checked against ``model.tasks``, so a task the model lacks
      stops the run with one :class:`~featsel.utils.ConfigError` instead of
      a KeyError at the first validation.

    - Validation: every ``interval`` batches (batch 0 included) the first
      sample of the batch goes to the visual backends.
    - Testing: every sample is drawn. With ``show_dir`` each goes to
      ``<work_dir>/<timestamp>/<show_dir>/<image stem>.png`` (or to
      ``show_dir`` itself when absolute); without it, to the backends.

    Args:
        draw (bool): Whether to draw at all. Defaults to False.
        interval (int): Validation batches between drawings. Defaults to 50.
        show (bool): Also show each drawing in a window. Defaults to False.
        wait_time (float): Seconds a shown window stays open. Defaults to 0.
        show_dir (str, optional): Directory of the test drawings, relative
            to ``<work_dir>/<timestamp>`` unless absolute. Defaults to None.
    """

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 show_dir: Optional[str] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.draw = draw
        self.interval = interval
        self.show = show
        self.wait_time = wait_time
        self.show_dir = show_dir
        self._test_index = 0

    def before_run(self, runner) -> None:
        """Check the task names before the first iteration: every task an
        evaluator scores or the visualizer names must be one of the model's
        (:func:`check_runner_tasks`)."""
        check_runner_tasks(runner)

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence[BaseDataElement]) -> None:
        """Draw the first sample of every ``interval``-th batch.

        Args:
            runner (Runner): The runner; its ``visualizer`` draws.
            batch_idx (int): Index of the batch in the validation loop.
            data_batch (dict): The batch from the dataloader (unused).
            outputs (Sequence[BaseDataElement]): Samples with ``img_path``,
                ground truth and predictions.
        """
        if not self.draw or batch_idx % self.interval != 0:
            return
        sample = outputs[0]
        runner.visualizer.add_datasample(
            f'val_{_stem(sample.img_path)}',
            mmcv.imread(sample.img_path, channel_order='rgb'),
            data_sample=sample,
            show=self.show,
            wait_time=self.wait_time,
            step=runner.iter)

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[BaseDataElement]) -> None:
        """Draw every sample of the batch.

        Args:
            runner (Runner): The runner; its ``visualizer`` draws and its
                ``work_dir`` and ``timestamp`` place ``show_dir``.
            batch_idx (int): Index of the batch in the test loop.
            data_batch (dict): The batch from the dataloader (unused).
            outputs (Sequence[BaseDataElement]): Samples with ``img_path``,
                ground truth and predictions.
        """
        if not self.draw:
            return
        out_dir = None
        if self.show_dir is not None:
            out_dir = osp.join(runner.work_dir, runner.timestamp,
                               self.show_dir)
            mkdir_or_exist(out_dir)
        for sample in outputs:
            self._test_index += 1
            stem = _stem(sample.img_path)
            runner.visualizer.add_datasample(
                f'test_{stem}',
                mmcv.imread(sample.img_path, channel_order='rgb'),
                data_sample=sample,
                show=self.show,
                wait_time=self.wait_time,
                out_file=None if out_dir is None else osp.join(
                    out_dir, f'{stem}.png'),
                step=self._test_index)


def _stem(path: str) -> str:
    """File name without directory and suffix."""
    return osp.splitext(osp.basename(path))[0]


def check_runner_tasks(runner) -> None:
    """Check that the built evaluators and the visualizer name only tasks of
    the model, with the model's kinds.

    Runs at ``before_run``, after ``train()``, ``val()`` or ``test()`` built
    their loops and before any iteration. Metrics and visualizers with a
    ``check_model_tasks(model_tasks, ...)`` method are checked; models
    without ``tasks`` are skipped.

    Raises:
        ConfigError: Naming the config key (``val_evaluator.tasks``,
            ``visualizer.task_kinds.<task>``) and the model's tasks.
    """
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    model_tasks = getattr(model, 'tasks', None)
    if not isinstance(model_tasks, dict):
        return
    # the loops built so far; reading runner.val_loop would build one
    loops = dict(val_evaluator=getattr(runner, '_val_loop', None),
                 test_evaluator=getattr(runner, '_test_loop', None))
    for where, loop in loops.items():
        evaluator = getattr(loop, 'evaluator', None)
        if not isinstance(loop, BaseLoop) or evaluator is None:
            continue
        for metric in evaluator.metrics:
            if hasattr(metric, 'check_model_tasks'):
                metric.check_model_tasks(model_tasks, where)
    if hasattr(runner.visualizer, 'check_model_tasks'):
        runner.visualizer.check_model_tasks(model_tasks)
