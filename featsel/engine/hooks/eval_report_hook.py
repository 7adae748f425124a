"""Keep every evaluation's metrics in one JSON file of the work dir."""
import json
import logging
import os.path as osp
from typing import Dict, Optional, Tuple

from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...registry import HOOKS
from ...utils import dump_json_atomic


@HOOKS.register_module()
class EvalReportHook(Hook):
    """Append each validation result to ``<work_dir>/<filename>``.

    The file holds ``{"history": [{"epoch", "iter", "metrics"}, ...],
    "last": {...}}``. A resumed run reads the existing file and appends, and
    every write replaces the file atomically, so earlier results survive
    crashes and resumes. Test results go to ``last_test``, and the
    checkpoint they were computed with (``load_from``, the checkpoint given
    to ``tools/test.py``) to ``last_test_checkpoint``.

    Args:
        filename (str): File name inside the work dir.
            Defaults to ``'eval_results.json'``.
    """

    priority = 'LOW'

    def __init__(self, filename: str = 'eval_results.json') -> None:
        self.filename = filename

    def _path(self, runner) -> str:
        return osp.join(runner.work_dir, self.filename)

    def _read(self, runner) -> dict:
        path = self._path(runner)
        if osp.isfile(path):
            with open(path) as f:
                return json.load(f)
        return {'history': []}

    @master_only
    def after_val_epoch(self, runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        if not metrics:
            return
        report = self._read(runner)
        entry = dict(epoch=runner.epoch, iter=runner.iter,
                     metrics={k: float(v) for k, v in metrics.items()})
        report['history'] = [
            e for e in report['history'] if e['iter'] != runner.iter
        ] + [entry]
        report['last'] = entry
        dump_json_atomic(report, self._path(runner))

    @master_only
    def after_test_epoch(self, runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        if not metrics:
            return
        report = self._read(runner)
        report['last_test'] = {k: float(v) for k, v in metrics.items()}
        report['last_test_checkpoint'] = runner.cfg.get('load_from')
        dump_json_atomic(report, self._path(runner))


def read_eval_results(work_dir: str, split: str = 'auto'
                 ) -> Tuple[Dict[str, float], str]:
    """Metrics of ``<work_dir>/eval_results.json`` (see ``EvalReportHook``).

    Args:
        work_dir (str): The run's work dir.
        split (str): ``'val'``: the last validation (``last``); ``'test'``:
            the last test (``last_test``); ``'auto'``: the test when there
            is one, else the validation.

    Returns:
        tuple: ``(metrics, source)``, e.g. ``({'seg/dice': 0.8, ...},
        'val@iter 400')``; ``({}, 'missing')`` when there is no result.
    """
    path = osp.join(work_dir, 'eval_results.json')
    if not osp.isfile(path):
        print_log(f'{path} does not exist: no metrics for this row',
                  logger='current', level=logging.WARNING)
        return {}, 'missing'
    with open(path) as f:
        report = json.load(f)
    if split in ('test', 'auto') and report.get('last_test'):
        return dict(report['last_test']), 'test'
    if split in ('val', 'auto') and report.get('last'):
        last = report['last']
        return dict(last['metrics']), f"val@iter {last['iter']}"
    print_log(f'{path} holds no {split} result: no metrics for this row',
              logger='current', level=logging.WARNING)
    return {}, 'missing'
