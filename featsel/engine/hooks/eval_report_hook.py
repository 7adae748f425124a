"""Keep every evaluation's metrics in one JSON file of the work dir."""
import json
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import master_only
from mmengine.hooks import Hook

from ...registry import HOOKS
from ...utils import dump_json_atomic


@HOOKS.register_module()
class EvalReportHook(Hook):
    """Append each validation result to ``<work_dir>/<filename>``.

    The file holds ``{"history": [{"epoch", "iter", "metrics"}, ...],
    "last": {...}}``. A resumed run reads the existing file and appends, and
    every write replaces the file atomically, so earlier results survive
    crashes and resumes. Test results go to ``last_test``.

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
        dump_json_atomic(report, self._path(runner))
