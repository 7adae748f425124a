"""Ranking a gallery for each query and scoring the ranking (re-ID).

The protocol is the one of Market-1501 (Zheng et al. 2015): for a query
``q`` the gallery it is ranked against leaves out

- the query itself (the same sample, found by its index, never by its rank,
  so tied features cannot remove the wrong item), and
- every gallery item with the query's identity **and** camera (finding a
  person again in the same view is not re-identification).

Among the remaining items, the positives are those with the query's
identity. With the remaining items sorted by distance (ties in gallery
order), ``r_1 < ... < r_n`` the 1-based ranks of the ``n`` positives:

- ``AP = (1/n) * sum_j j / r_j`` (precision at each positive, averaged);
- CMC at rank ``k``: 1 when ``r_1 <= k``, else 0;
- ``INP = n / r_n`` (Ye et al. 2021, "Deep Learning for Person
  Re-identification: A Survey and Outlook": how far down the list the
  hardest positive lies).

Queries without a positive (``n = 0``) have no score and are left out of
the means. Everything is vectorised in torch over a chunk of queries; only
the chunks are looped over, so a 10k x 10k gallery needs memory for
``chunk_size x G`` distances at a time.
"""
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class QueryScores:
    """Per-query results of :func:`evaluate_queries`, for ``Q`` queries.

    Attributes:
        ap (Tensor): (Q,) float64 average precision in [0, 1]; 0 where the
            query has no positive.
        first_hit (Tensor): (Q,) int64 rank (1-based) of the first positive;
            0 where the query has no positive.
        inp (Tensor): (Q,) float64 inverse negative penalty ``n / r_n``; 0
            where the query has no positive.
        num_pos (Tensor): (Q,) int64 number of positives ``n``.
        topk_index (Tensor): (Q, k) int64 gallery indices of the ``k``
            nearest valid gallery items, -1 where fewer remain.
        topk_distance (Tensor): (Q, k) float32 their distances (inf for -1).
    """

    ap: Tensor
    first_hit: Tensor
    inp: Tensor
    num_pos: Tensor
    topk_index: Tensor
    topk_distance: Tensor

    @property
    def valid(self) -> Tensor:
        """(Q,) bool: queries with at least one positive."""
        return self.num_pos > 0


def pairwise_distance(query: Tensor, gallery: Tensor) -> Tensor:
    """Euclidean distances ``||q - g||`` of every query to every gallery
    item, from ``||q||^2 + ||g||^2 - 2 q.g`` (clamped at 0).

    Args:
        query (Tensor): (Q, D) features.
        gallery (Tensor): (G, D) features.

    Returns:
        Tensor: (Q, G) distances, float32 or the inputs' wider dtype.
    """
    squared = (query.pow(2).sum(1, keepdim=True) +
               gallery.pow(2).sum(1)[None] - 2 * query @ gallery.t())
    return squared.clamp_min_(0).sqrt_()


def score_rankings(distance: Tensor, positive: Tensor, allowed: Tensor
                   ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Rank the gallery of each query and score the ranking.

    Args:
        distance (Tensor): (Q, G) query-to-gallery distances.
        positive (Tensor): (Q, G) bool, the gallery item has the query's
            identity.
        allowed (Tensor): (Q, G) bool, the item is part of the query's
            gallery (the protocol's exclusions are False).

    Returns:
        tuple[Tensor, ...]: ``ap``, ``first_hit``, ``inp``, ``num_pos``
        (each (Q,), as in :class:`QueryScores`) and ``order`` (Q, G): the
        gallery indices by increasing distance, allowed items first (ties
        keep the gallery order).
    """
    masked = distance.masked_fill(~allowed, float('inf'))
    order = masked.sort(dim=1, stable=True).indices
    kept = allowed.gather(1, order)
    hits = positive.gather(1, order) & kept
    # 1-based rank among the allowed items; excluded items never count
    rank = kept.cumsum(1)
    num_pos = hits.sum(1)
    found = num_pos > 0
    hits_so_far = hits.cumsum(1)
    precision = hits_so_far.double() / rank.clamp_min(1).double()
    ap = (precision * hits).sum(1) / num_pos.clamp_min(1)
    hit_rank = rank.masked_fill(~hits, 0)
    big = torch.iinfo(rank.dtype).max
    first_hit = rank.masked_fill(~hits, big).amin(1).masked_fill(~found, 0)
    last_hit = hit_rank.amax(1)
    inp = num_pos.double() / last_hit.clamp_min(1).double()
    return ap, first_hit, inp, num_pos, order


def _chunks(total: int, size: int) -> Iterator[slice]:
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def evaluate_queries(query_feats: Tensor,
                     gallery_feats: Tensor,
                     query_pids: Tensor,
                     gallery_pids: Tensor,
                     query_cams: Tensor,
                     gallery_cams: Tensor,
                     query_ids: Optional[Tensor] = None,
                     gallery_ids: Optional[Tensor] = None,
                     normalize: bool = True,
                     chunk_size: int = 256,
                     topk: int = 5) -> QueryScores:
    """Score every query against the gallery under the Market-1501 protocol.

    Args:
        query_feats (Tensor): (Q, D) query features.
        gallery_feats (Tensor): (G, D) gallery features.
        query_pids, gallery_pids (Tensor): (Q,), (G,) identities.
        query_cams, gallery_cams (Tensor): (Q,), (G,) cameras.
        query_ids, gallery_ids (Tensor, optional): (Q,), (G,) sample ids; a
            gallery item with the query's id is the query itself and is
            left out. None: query and gallery are disjoint sets.
        normalize (bool): L2-normalise the features first (then the
            distance is ``sqrt(2 - 2 cos)``, ranked as the cosine
            distance). False: Euclidean distance of the raw features.
            Defaults to True.
        chunk_size (int): Queries scored at a time. Defaults to 256.
        topk (int): Nearest gallery items kept per query. Defaults to 5.

    Returns:
        QueryScores: Per-query scores and the top-``k`` lists.
    """
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    if normalize:
        query_feats = F.normalize(query_feats, dim=1)
        gallery_feats = F.normalize(gallery_feats, dim=1)
    num_gallery = gallery_feats.shape[0]
    k = min(topk, num_gallery)
    parts = []
    for rows in _chunks(query_feats.shape[0], chunk_size):
        distance = pairwise_distance(query_feats[rows], gallery_feats)
        same_pid = query_pids[rows, None] == gallery_pids[None]
        same_cam = query_cams[rows, None] == gallery_cams[None]
        allowed = ~(same_pid & same_cam)
        if query_ids is not None and gallery_ids is not None:
            allowed &= query_ids[rows, None] != gallery_ids[None]
        ap, first_hit, inp, num_pos, order = score_rankings(
            distance, same_pid, allowed)
        top = order[:, :k]
        top_ok = allowed.gather(1, top)
        parts.append((ap, first_hit, inp, num_pos,
                      top.masked_fill(~top_ok, -1),
                      distance.gather(1, top).float().masked_fill(
                          ~top_ok, float('inf'))))
    columns = [torch.cat(column) for column in zip(*parts)]
    topk_index, topk_distance = columns[4:]
    if k < topk:  # a gallery smaller than k: pad the lists
        pad = topk - k
        topk_index = F.pad(topk_index, (0, pad), value=-1)
        topk_distance = F.pad(topk_distance, (0, pad), value=float('inf'))
    return QueryScores(*columns[:4], topk_index, topk_distance)


def summarize(scores: QueryScores,
              ranks: Sequence[int] = (1, 5, 10)) -> Dict[str, float]:
    """Means over the queries that have a positive, in percent.

    Args:
        scores (QueryScores): From :func:`evaluate_queries`.
        ranks (Sequence[int]): CMC ranks to report. Defaults to (1, 5, 10).

    Returns:
        dict[str, float]: ``mAP``, ``R<k>`` for each rank, ``mINP``
        (unrounded percent). Empty when no query has a positive.
    """
    valid = scores.valid
    if not valid.any():
        return {}
    results = dict(mAP=100 * scores.ap[valid].mean().item())
    first_hit = scores.first_hit[valid]
    for k in ranks:
        results[f'R{k}'] = 100 * (first_hit <= k).double().mean().item()
    results['mINP'] = 100 * scores.inp[valid].mean().item()
    return results
