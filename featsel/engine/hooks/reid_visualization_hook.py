"""Write re-identification pictures at each evaluation: the kept-token maps
of the first samples and the retrieval panels of the first queries (the
drawing lives in :mod:`featsel.visualization.reid`)."""
import os.path as osp
from typing import Dict, Mapping, Optional, Sequence

import mmcv
import numpy as np
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.structures import BaseDataElement

from ...registry import HOOKS
from ...visualization.reid import (draw_retrieval, draw_token_selection,
                                   retrieval_captions)


@HOOKS.register_module()
class ReIDVisualizationHook(Hook):
    """Draw what a ReID model kept and what it retrieved, as PNG files.

    - Kept tokens: during validation and testing, the first
      ``num_samples`` predicted samples that carry ``token_selection`` and
      ``token_grid`` (a model with a token selector writes them) are drawn
      by :func:`~featsel.visualization.reid.draw_token_selection` to
      ``<stem>_tokens.png``; samples without them are skipped.
    - Retrieval: after the evaluation, the first ``num_queries`` rankings
      the metric kept in ``last_retrieval`` (see
      :class:`~featsel.evaluation.metrics.MultiModalReIDMetric`) are drawn
      by :func:`~featsel.visualization.reid.draw_retrieval` to
      ``retrieval_<i>_<stem>.png``. An evaluator without such a metric
      gives one warning and token maps only.

    Images are read from each sample's ``img_paths``. Files go to
    ``<out_dir>/val_iter_<iter>`` after a validation and
    ``<out_dir>/test_<timestamp>`` after a test, ``out_dir`` being
    ``<work_dir>/vis`` unless given. With ``show_dir`` (what
    ``tools/test.py --show-dir DIR`` sets) test pictures go to
    ``<work_dir>/<timestamp>/<show_dir>`` instead and every test sample
    with a selection is drawn. Only the main process draws.

    Args:
        draw (bool): Whether to draw at all. Defaults to True.
        num_samples (int): Samples whose kept tokens are drawn (0: none).
            Defaults to 4.
        num_queries (int): Queries whose retrieval panel is drawn (0: none;
            at most the metric's ``retrieval_queries``). Defaults to 4.
        num_aggregated (int): Aggregated tokens drawn per modality.
            Defaults to 3.
        panel_height (int): Height of one image panel in pixels.
            Defaults to 128.
        out_dir (str, optional): Root of the pictures, relative to the work
            dir unless absolute. Defaults to None (``<work_dir>/vis``).
        show_dir (str, optional): Folder of the test pictures, relative to
            ``<work_dir>/<timestamp>`` unless absolute; every test sample
            is drawn. Defaults to None.
    """

    priority = 'LOW'

    def __init__(self,
                 draw: bool = True,
                 num_samples: int = 4,
                 num_queries: int = 4,
                 num_aggregated: int = 3,
                 panel_height: int = 128,
                 out_dir: Optional[str] = None,
                 show_dir: Optional[str] = None) -> None:
        for key, value, low in (('num_samples', num_samples, 0),
                                ('num_queries', num_queries, 0),
                                ('num_aggregated', num_aggregated, 0),
                                ('panel_height', panel_height, 16)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f'ReIDVisualizationHook.{key}={value!r}: '
                                 f'give an integer >= {low}')
        self.draw = draw
        self.num_samples = num_samples
        self.num_queries = num_queries
        self.num_aggregated = num_aggregated
        self.panel_height = panel_height
        self.out_dir = out_dir
        self.show_dir = show_dir
        self._drawn_samples = 0
        self._written = 0

    def _val_dir(self, runner) -> str:
        return osp.join(runner.work_dir, self.out_dir or 'vis',
                        f'val_iter_{runner.iter}')

    def _test_dir(self, runner) -> str:
        if self.show_dir:
            return osp.join(runner.work_dir, runner.timestamp, self.show_dir)
        return osp.join(runner.work_dir, self.out_dir or 'vis',
                        f'test_{runner.timestamp}')

    def before_val_epoch(self, runner) -> None:
        self._drawn_samples = self._written = 0

    def before_test_epoch(self, runner) -> None:
        self._drawn_samples = self._written = 0

    @master_only
    def after_val_iter(self, runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence[BaseDataElement]) -> None:
        if self.draw:
            self._draw_tokens(outputs, self._val_dir(runner),
                              self.num_samples)

    @master_only
    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[BaseDataElement]) -> None:
        if self.draw:
            self._draw_tokens(outputs, self._test_dir(runner),
                              None if self.show_dir else self.num_samples)

    @master_only
    def after_val_epoch(self, runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        if self.draw:
            self._draw_retrieval(runner, runner.val_evaluator,
                                 self._val_dir(runner))

    @master_only
    def after_test_epoch(self, runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        if self.draw:
            self._draw_retrieval(runner, runner.test_evaluator,
                                 self._test_dir(runner))

    def _draw_tokens(self, outputs: Sequence[BaseDataElement], out_dir: str,
                     limit: Optional[int]) -> None:
        """Draw the kept tokens of the samples that carry them, until
        ``limit`` samples of this evaluation are drawn (None: all)."""
        for sample in outputs:
            if limit is not None and self._drawn_samples >= limit:
                return
            img_paths = _img_paths(sample.metainfo)
            if ('token_selection' not in sample or 'token_grid' not in sample
                    or not img_paths):
                continue
            drawn = draw_token_selection(
                _read(img_paths), sample.token_selection,
                tuple(sample.token_grid), self.num_aggregated,
                self.panel_height)
            _write(drawn, out_dir, f'{_stem(img_paths)}_tokens.png')
            self._drawn_samples += 1
            self._written += 1

    def _draw_retrieval(self, runner, evaluator, out_dir: str) -> None:
        """Draw the first rankings the metric kept, then log what this
        evaluation wrote."""
        rankings = _rankings(evaluator)
        if self.num_queries and rankings is None:
            runner.logger.warning(
                'ReIDVisualizationHook: no metric of the evaluator keeps '
                'last_retrieval (MultiModalReIDMetric does): no retrieval '
                'panels')
        for index, ranking in enumerate((rankings or [])[:self.num_queries]):
            captions, matches = retrieval_captions(ranking)
            drawn = draw_retrieval(
                _read(ranking['query']['img_paths']),
                [_read(item['img_paths']) for item in ranking['gallery']],
                matches, captions, self.panel_height)
            stem = _stem(ranking['query']['img_paths'])
            _write(drawn, out_dir, f'retrieval_{index}_{stem}.png')
            self._written += 1
        if self._written:
            runner.logger.info(f'ReIDVisualizationHook: {self._written} '
                               f'pictures in {out_dir}')


def _img_paths(meta: Mapping) -> Dict[str, str]:
    """Modality -> file of a sample (``{'img': img_path}`` with one)."""
    if meta.get('img_paths'):
        return dict(meta['img_paths'])
    return dict(img=meta['img_path']) if meta.get('img_path') else {}


def _read(img_paths: Mapping[str, str]) -> Dict[str, np.ndarray]:
    """Modality -> (H, W, 3) uint8 RGB image."""
    return {m: mmcv.imread(p, channel_order='rgb')
            for m, p in img_paths.items()}


def _stem(img_paths: Mapping[str, str]) -> str:
    """File name, without folder and suffix, of the first modality."""
    path = next(iter(img_paths.values()), 'sample')
    return osp.splitext(osp.basename(path))[0]


def _write(drawn: np.ndarray, out_dir: str, filename: str) -> str:
    path = osp.join(out_dir, filename)
    mmcv.imwrite(mmcv.rgb2bgr(drawn), path)
    return path


def _rankings(evaluator) -> Optional[list]:
    """``last_retrieval`` of the first metric that keeps one."""
    for metric in getattr(evaluator, 'metrics', ()):
        if hasattr(metric, 'last_retrieval'):
            return metric.last_retrieval
    return None
