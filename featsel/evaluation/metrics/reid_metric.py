"""Re-identification scores of a query/gallery split (mAP, CMC, mINP)."""
import logging
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from featsel.registry import METRICS
from featsel.utils import ConfigError, DataError

from ..retrieval import QueryScores, evaluate_queries, summarize

_METRICS = ('mAP', 'CMC', 'mINP')
_REQUIRED = ('pred_feature', 'pid', 'is_query', 'is_gallery')


@METRICS.register_module()
class MultiModalReIDMetric(BaseMetric):
    """mAP, CMC and mINP under the Market-1501 protocol.

    Each data sample carries ``pred_feature`` (D,) and, in its metainfo,
    ``pid``, ``camid``, ``is_query`` and ``is_gallery`` (a sample may be
    both, as in RGBNT201's test set). Every query is ranked against the
    gallery without itself (by sample index) and without the items of its
    identity and camera (or of another shared group, ``group_key``: MSVR310
    removes the query's identity in the same scene); the formulas are those of
    :mod:`featsel.evaluation.retrieval`. Queries without a positive left are
    skipped, and their number is logged.

    Keys, in percent and unrounded: ``mAP``, ``R<k>`` for each of
    ``ranks`` (the CMC curve at ``k``), ``mINP``.

    After each evaluation (on the main process) :attr:`last_retrieval`
    holds the rankings of the first ``retrieval_queries`` scored queries,
    in data-set order, for drawing::

        [dict(query=dict(index, pid, camid, img_paths),
              gallery=[dict(index, pid, camid, img_paths, distance,
                            match), ...]),  # nearest first, up to topk
         ...]

    ``img_paths`` maps each modality to its file (``{'img': img_path}`` for
    samples with a single ``img_path``), ``match`` is True for the query's
    identity.

    Args:
        metric (Sequence[str]): Scores to report, of ``'mAP'``, ``'CMC'``
            and ``'mINP'``. Defaults to all three.
        ranks (Sequence[int]): CMC ranks. Defaults to (1, 5, 10).
        group_key (str): Sample key whose value, shared with the query's
            identity, removes a gallery item: ``'camid'`` (Market-1501,
            RGBNT201, RGBNT100) or ``'sceneid'`` (MSVR310). Defaults to
            ``'camid'``.
        normalize (bool): L2-normalise the features before the distance
            (ranking by cosine similarity). False ranks by the Euclidean
            distance of the raw features. Defaults to True.
        chunk_size (int): Queries ranked at a time; the memory peak grows
            with ``chunk_size x gallery size``. Defaults to 256.
        retrieval_queries (int): Queries kept in :attr:`last_retrieval`
            (0 keeps none). Defaults to 8.
        retrieval_topk (int): Gallery items kept per query there.
            Defaults to 5.
        collect_device (str): 'cpu' or 'gpu', for collecting results across
            ranks. Defaults to 'cpu'.
        prefix (str, optional): Prefix added to the keys by mmengine.
            Defaults to None.
    """

    def __init__(self,
                 metric: Sequence[str] = _METRICS,
                 ranks: Sequence[int] = (1, 5, 10),
                 group_key: str = 'camid',
                 normalize: bool = True,
                 chunk_size: int = 256,
                 retrieval_queries: int = 8,
                 retrieval_topk: int = 5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metric = (metric, ) if isinstance(metric, str) else tuple(metric)
        unknown = [m for m in metric if m not in _METRICS]
        if unknown or not metric:
            raise ConfigError(
                f'MultiModalReIDMetric.metric={list(metric)}: choose one or '
                f'more of {list(_METRICS)}')
        ranks = tuple(ranks)
        if not ranks or any(not isinstance(k, int) or k < 1 for k in ranks):
            raise ConfigError(
                f'MultiModalReIDMetric.ranks={list(ranks)}: give positive '
                'integers, e.g. (1, 5, 10)')
        for key, value, low in (('chunk_size', chunk_size, 1),
                                ('retrieval_queries', retrieval_queries, 0),
                                ('retrieval_topk', retrieval_topk, 1)):
            if not isinstance(value, int) or value < low:
                raise ConfigError(f'MultiModalReIDMetric.{key}={value!r}: '
                                  f'give an integer >= {low}')
        self.metric_names = metric
        self.ranks = ranks
        self.group_key = group_key
        self.normalize = normalize
        self.chunk_size = chunk_size
        self.retrieval_queries = retrieval_queries
        self.retrieval_topk = retrieval_topk
        #: rankings of the first queries of the last evaluation (see above)
        self.last_retrieval: List[dict] = []

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep the feature, identity, camera, split flags and image files
        of each sample (numpy and Python values, so results can be
        collected across processes).

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): ``ReIDDataSample.to_dict()`` of
                the model outputs.
        """
        for sample in data_samples:
            missing = [
                key for key in _REQUIRED + (self.group_key, )
                if key not in sample
            ]
            if missing:
                raise DataError(
                    f'MultiModalReIDMetric needs {missing} in every data '
                    f'sample; the sample of {sample.get("img_path")} has '
                    f'{sorted(sample)}')
            feature = sample['pred_feature']
            if isinstance(feature, torch.Tensor):
                feature = feature.detach().float().cpu().numpy()
            img_paths = sample.get('img_paths')
            if img_paths is None and sample.get('img_path') is not None:
                img_paths = dict(img=sample['img_path'])
            self.results.append(
                dict(feature=np.asarray(feature, np.float32).reshape(-1),
                     pid=int(sample['pid']),
                     camid=int(sample[self.group_key]),
                     is_query=bool(sample['is_query']),
                     is_gallery=bool(sample['is_gallery']),
                     img_paths=dict(img_paths or {})))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Rank the gallery for every query and average the scores.

        Args:
            results (list[dict]): What :meth:`process` kept, from all ranks,
                in data-set order.

        Returns:
            dict[str, float]: The requested keys in percent.

        Raises:
            DataError: No query, no gallery item, features of different
                sizes, or no query with a positive in the gallery.
        """
        sizes = {r['feature'].shape[0] for r in results}
        if len(sizes) > 1:
            raise DataError('MultiModalReIDMetric: pred_feature sizes differ '
                            f'between samples: {sorted(sizes)}')
        query = np.flatnonzero([r['is_query'] for r in results])
        gallery = np.flatnonzero([r['is_gallery'] for r in results])
        if not len(query) or not len(gallery):
            raise DataError(
                f'MultiModalReIDMetric: {len(query)} queries and '
                f'{len(gallery)} gallery items among {len(results)} '
                'samples; both must be present (is_query/is_gallery)')
        feats = torch.from_numpy(np.stack([r['feature'] for r in results]))
        pids = torch.tensor([r['pid'] for r in results])
        cams = torch.tensor([r['camid'] for r in results])
        q, g = torch.from_numpy(query), torch.from_numpy(gallery)
        scores = evaluate_queries(
            feats[q], feats[g], pids[q], pids[g], cams[q], cams[g],
            query_ids=q, gallery_ids=g, normalize=self.normalize,
            chunk_size=self.chunk_size, topk=self.retrieval_topk)
        skipped = int((~scores.valid).sum())
        if skipped == len(query):
            raise DataError(
                f'MultiModalReIDMetric: none of the {len(query)} queries has '
                'a gallery item of its identity from another camera; check '
                'the pid/camid of the query and gallery sets')
        if skipped:
            print_log(
                f'MultiModalReIDMetric: {skipped} of {len(query)} queries '
                'have no gallery item of their identity from another camera '
                'and are skipped', logger='current', level=logging.WARNING)
        self.last_retrieval = self._rankings(scores, query, gallery, results)
        summary = summarize(scores, self.ranks)
        keep = {'mAP': ['mAP'], 'mINP': ['mINP'],
                'CMC': [f'R{k}' for k in self.ranks]}
        return {key: summary[key] for m in self.metric_names
                for key in keep[m]}

    def _rankings(self, scores: QueryScores, query: np.ndarray,
                  gallery: np.ndarray, results: List[dict]) -> List[dict]:
        """The :attr:`last_retrieval` entries of the first scored queries."""

        def item(index: int) -> dict:
            r = results[index]
            return dict(index=index, pid=r['pid'], camid=r['camid'],
                        img_paths=r['img_paths'])

        rankings = []
        rows = torch.nonzero(scores.valid).flatten()
        for row in rows[:self.retrieval_queries].tolist():
            query_item = item(int(query[row]))
            ranked = []
            for col, dist in zip(scores.topk_index[row].tolist(),
                                 scores.topk_distance[row].tolist()):
                if col < 0:
                    break
                entry = item(int(gallery[col]))
                entry.update(distance=dist,
                             match=entry['pid'] == query_item['pid'])
                ranked.append(entry)
            rankings.append(dict(query=query_item, gallery=ranked))
        return rankings
