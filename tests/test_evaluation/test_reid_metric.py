"""MultiModalReIDMetric and the ranking functions behind it: hand-counted
cases, the Market-1501 exclusions, chunking, and torchmetrics' average
precision as an independent reference."""
import logging

import numpy as np
import pytest
import torch
from mmdet.structures import ReIDDataSample
from mmengine.logging import MMLogger
from torchmetrics.functional.retrieval import retrieval_average_precision

from featsel.evaluation.metrics import MultiModalReIDMetric
from featsel.evaluation.retrieval import evaluate_queries, summarize
from featsel.registry import METRICS
from featsel.utils import ConfigError, DataError


class ListHandler(logging.Handler):
    """Keeps the messages logged to a logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _sample(feature, pid, camid, is_query=True, is_gallery=True, name=None):
    """One model output as MultiModalReID writes it, as a dict."""
    sample = ReIDDataSample(metainfo=dict(
        pid=pid, camid=camid, is_query=is_query, is_gallery=is_gallery,
        img_path=f'RGB/{name}.jpg' if name else None,
        img_paths=dict(RGB=f'RGB/{name}.jpg', NI=f'NI/{name}.jpg')
        if name else None))
    sample.pred_feature = torch.as_tensor(feature, dtype=torch.float32)
    return sample.to_dict()


def _evaluate(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


# ---------------------------------------------------------------------- #
# Hand-counted cases
# ---------------------------------------------------------------------- #
# Points on a line, Euclidean distance (normalize=False).
# query q0 (pid 1, cam 0) at 0, q1 (pid 2, cam 0) at 2.1
# gallery  g0 pid 1 cam 1 at 1.0   positive of q0
#          g1 pid 2 cam 1 at 2.0   positive of q1
#          g2 pid 1 cam 0 at 0.5   q0's pid and camera: left out for q0
#          g3 pid 1 cam 2 at 3.0   positive of q0
#          g4 pid 3 cam 0 at 0.2   negative (same camera, other pid: kept)
HAND_QUERY = [(0.0, 1, 0), (2.1, 2, 0)]
HAND_GALLERY = [(1.0, 1, 1), (2.0, 2, 1), (0.5, 1, 0), (3.0, 1, 2),
                (0.2, 3, 0)]


def _hand_samples():
    return ([_sample([x, 0.], p, c, True, False, f'q{i}')
             for i, (x, p, c) in enumerate(HAND_QUERY)] +
            [_sample([x, 0.], p, c, False, True, f'g{i}')
             for i, (x, p, c) in enumerate(HAND_GALLERY)])


def test_hand_counted_scores():
    # q0: allowed gallery by distance g4 (0.2, -), g0 (1.0, +), g1 (2.0, -),
    #     g3 (3.0, +); positives at ranks 2 and 4.
    #     AP = (1/2 + 2/4) / 2 = 0.5, first hit at 2, INP = 2/4 = 0.5
    # q1: g1 (0.1, +) first, its only positive.
    #     AP = 1, first hit at 1, INP = 1/1 = 1
    metric = MultiModalReIDMetric(normalize=False, ranks=(1, 2, 5))
    result = _evaluate(metric, _hand_samples())
    assert result == pytest.approx(
        dict(mAP=75.0, R1=50.0, R2=100.0, R5=100.0, mINP=75.0))
    assert list(result) == ['mAP', 'R1', 'R2', 'R5', 'mINP']


def test_per_query_scores_and_top_lists():
    q = torch.tensor([[x, 0.] for x, _, _ in HAND_QUERY])
    g = torch.tensor([[x, 0.] for x, _, _ in HAND_GALLERY])
    qp, qc = torch.tensor([1, 2]), torch.tensor([0, 0])
    gp, gc = torch.tensor([1, 2, 1, 1, 3]), torch.tensor([1, 1, 0, 2, 0])
    scores = evaluate_queries(q, g, qp, gp, qc, gc, normalize=False,
                              topk=6)
    assert scores.ap.tolist() == pytest.approx([0.5, 1.0])
    assert scores.first_hit.tolist() == [2, 1]
    assert scores.inp.tolist() == pytest.approx([0.5, 1.0])
    assert scores.num_pos.tolist() == [2, 1]
    # q0: g2 is left out, so its list holds 4 items and is padded
    assert scores.topk_index.tolist() == [[4, 0, 1, 3, -1, -1],
                                          [1, 3, 0, 2, 4, -1]]
    assert scores.topk_distance[0, :4].tolist() == pytest.approx(
        [0.2, 1.0, 2.0, 3.0])
    assert torch.isinf(scores.topk_distance[0, 4:]).all()


def test_last_retrieval_holds_the_first_rankings():
    metric = MultiModalReIDMetric(normalize=False, retrieval_queries=1,
                                  retrieval_topk=3)
    _evaluate(metric, _hand_samples())
    (ranking, ) = metric.last_retrieval
    query = ranking['query']
    assert (query['index'], query['pid'], query['camid']) == (0, 1, 0)
    assert query['img_paths'] == dict(RGB='RGB/q0.jpg', NI='NI/q0.jpg')
    # the data-set indices of g4, g0, g1 (queries come first)
    assert [g['index'] for g in ranking['gallery']] == [6, 2, 3]
    assert [g['match'] for g in ranking['gallery']] == [False, True, False]
    assert [g['distance'] for g in ranking['gallery']] == pytest.approx(
        [0.2, 1.0, 2.0])
    assert ranking['gallery'][1]['img_paths']['NI'] == 'NI/g0.jpg'


def test_normalize_ranks_by_direction():
    # query along x; g0 long but along x (same direction), g1 short but at
    # 45 degrees: Euclidean prefers g1, cosine prefers g0
    samples = [
        _sample([1., 0.], 1, 0, True, False),
        _sample([10., 0.], 1, 1, False, True),
        _sample([1., 1.], 2, 1, False, True),
    ]
    cosine = _evaluate(MultiModalReIDMetric(), samples)
    euclid = _evaluate(MultiModalReIDMetric(normalize=False), samples)
    assert cosine['R1'] == 100.0 and cosine['mAP'] == 100.0
    assert euclid['R1'] == 0.0 and euclid['mAP'] == 50.0


def test_metric_selects_the_keys():
    metric = MultiModalReIDMetric(metric='mAP', normalize=False)
    assert list(_evaluate(metric, _hand_samples())) == ['mAP']
    metric = MultiModalReIDMetric(metric=('CMC', 'mINP'), ranks=(1, ),
                                  normalize=False)
    assert _evaluate(metric, _hand_samples()) == pytest.approx(
        dict(R1=50.0, mINP=75.0))


# ---------------------------------------------------------------------- #
# The protocol's exclusions
# ---------------------------------------------------------------------- #
def test_same_camera_filter_and_skipped_queries():
    # q0 (pid 1, cam 0): its nearest item g0 has pid 1 and cam 0, left
    # out; the only cross-camera positive g1 (2.0) ranks 2nd, between the
    # negatives g2 (1.0) and g3 (3.0): AP 1/2, first hit 2, INP 1/2.
    # q1 (pid 5, cam 0): its only positive g3 is on cam 0 -> skipped.
    samples = [
        _sample([0., 0.], 1, 0, True, False),
        _sample([0.1, 0.], 5, 0, True, False),
        _sample([0.05, 0.], 1, 0, False, True),
        _sample([2., 0.], 1, 3, False, True),
        _sample([1., 0.], 7, 3, False, True),
        _sample([-3., 0.], 5, 0, False, True),
    ]
    metric = MultiModalReIDMetric(normalize=False)
    logger = MMLogger.get_current_instance()
    handler = ListHandler()
    logger.addHandler(handler)
    try:
        result = _evaluate(metric, samples)
    finally:
        logger.removeHandler(handler)
    assert result == pytest.approx(dict(mAP=50.0, R1=0.0, R5=100.0,
                                        R10=100.0, mINP=50.0))
    assert '1 of 2 queries have no gallery item' in '\n'.join(handler.messages)
    assert [r['query']['index'] for r in metric.last_retrieval] == [0]


def test_scene_filter_for_msvr310():
    """``group_key='sceneid'``: the query's identity in its own scene is
    left out, whatever the cameras say."""
    def scene_sample(x, pid, camid, sceneid, is_query):
        sample = _sample([x, 0.], pid, camid, is_query, not is_query)
        sample['sceneid'] = sceneid
        return sample

    # q (pid 1, scene 4, cam 0). g0 pid 1 scene 4 cam 1 at 0.1: another
    # camera but the same scene; g1 negative at 0.5; g2 pid 1 scene 9 cam 2
    # at 1.
    samples = [scene_sample(0., 1, 0, 4, True),
               scene_sample(0.1, 1, 1, 4, False),
               scene_sample(0.5, 2, 0, 9, False),
               scene_sample(1., 1, 2, 9, False)]
    by_camera = _evaluate(MultiModalReIDMetric(normalize=False), samples)
    by_scene = _evaluate(
        MultiModalReIDMetric(normalize=False, group_key='sceneid'), samples)
    # cameras: g0 is a positive at rank 1, g2 at rank 3 -> AP (1 + 2/3) / 2
    assert by_camera['mAP'] == pytest.approx(100 * (1 + 2 / 3) / 2)
    # scenes: g0 left out, g2 ranks 2nd -> AP 1/2, R1 0
    assert by_scene['mAP'] == pytest.approx(50.0)
    assert by_scene['R1'] == 0.0
    with pytest.raises(DataError, match='sceneid'):
        _evaluate(MultiModalReIDMetric(group_key='sceneid'),
                  [_sample([0., 1.], 1, 0)])


def test_query_left_out_by_index_whatever_the_ties():
    """a and b are queries and gallery items (as in RGBNT201's test set) with
    the same feature. Removing "the first-ranked item" instead of the query
    itself would keep or drop b for query a depending on the order."""
    a = ([1., 0.], 1, 0)
    b = ([1., 0.], 2, 0)               # tied with a, another identity
    c = ([0., 1.], 1, 1, False)        # a's identity, other camera
    d = ([0.6, 0.8], 2, 1, False)      # b's identity, other camera
    # unit vectors: |a-b| = 0, |a-d| = sqrt(0.8) = 0.89, |a-c| = sqrt(2)
    # a: b (0, -), d (0.89, -), c (1.41, +) -> AP 1/3, first 3, INP 1/3
    # b: a (0, -), d (0.89, +), c (1.41, -) -> AP 1/2, first 2, INP 1/2
    expected = dict(mAP=100 * (1 / 3 + 1 / 2) / 2, R1=0.0, R2=50.0,
                    R3=100.0, mINP=100 * (1 / 3 + 1 / 2) / 2)
    for order in ([a, b, c, d], [b, a, c, d], [c, d, b, a]):
        metric = MultiModalReIDMetric(ranks=(1, 2, 3))
        result = _evaluate(metric, [_sample(*s) for s in order])
        assert result == pytest.approx(expected)


# ---------------------------------------------------------------------- #
# Chunking and the independent reference
# ---------------------------------------------------------------------- #
def _random_split(seed, num_query=37, num_gallery=91, dims=16):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(num_query + num_gallery, dims, generator=gen)
    pids = torch.randint(0, 8, (num_query + num_gallery, ), generator=gen)
    cams = torch.randint(0, 3, (num_query + num_gallery, ), generator=gen)
    q, g = slice(0, num_query), slice(num_query, None)
    return feats[q], feats[g], pids[q], pids[g], cams[q], cams[g]


@pytest.mark.parametrize('normalize', [True, False])
def test_chunked_equals_unchunked(normalize):
    split = _random_split(0)
    whole = evaluate_queries(*split, normalize=normalize, chunk_size=10**6)
    for chunk_size in (1, 7, 36):
        part = evaluate_queries(*split, normalize=normalize,
                                chunk_size=chunk_size)
        for name in ('ap', 'first_hit', 'inp', 'num_pos', 'topk_index'):
            assert torch.equal(getattr(part, name), getattr(whole, name))
        # a matrix product of another height may round the last bit
        torch.testing.assert_close(part.topk_distance, whole.topk_distance)


@pytest.mark.parametrize('seed, normalize', [(1, True), (2, False)])
def test_against_torchmetrics_and_a_per_query_loop(seed, normalize):
    qf, gf, qp, gp, qc, gc = _random_split(seed)
    scores = evaluate_queries(qf, gf, qp, gp, qc, gc, normalize=normalize,
                              chunk_size=5)
    if normalize:
        qf = qf / qf.norm(dim=1, keepdim=True)
        gf = gf / gf.norm(dim=1, keepdim=True)
    aps, first, inps, skipped = [], [], [], 0
    for i in range(len(qf)):
        keep = ~((gp == qp[i]) & (gc == qc[i]))
        dist = (gf[keep] - qf[i]).norm(dim=1).double()
        target = gp[keep] == qp[i]
        if not target.any():
            skipped += 1
            assert scores.num_pos[i] == 0 and scores.ap[i] == 0
            continue
        # torchmetrics counts a positive only where its score is > 0
        aps.append(retrieval_average_precision(1 / (1 + dist),
                                               target).item())
        hit_ranks = np.flatnonzero(target[dist.argsort()].numpy()) + 1
        first.append(hit_ranks[0])
        inps.append(len(hit_ranks) / hit_ranks[-1])
    valid = scores.valid
    assert skipped == int((~valid).sum()) and skipped < len(qf)
    assert scores.ap[valid].tolist() == pytest.approx(aps, abs=1e-6)
    assert scores.first_hit[valid].tolist() == first
    assert scores.inp[valid].tolist() == pytest.approx(inps)
    summary = summarize(scores, ranks=(1, 3))
    assert summary['mAP'] == pytest.approx(100 * np.mean(aps), abs=1e-4)
    assert summary['R3'] == pytest.approx(
        100 * np.mean(np.array(first) <= 3))
    assert summary['mINP'] == pytest.approx(100 * np.mean(inps))


def _evaluate_on_rank(rank, world_size, store, out):
    """One process of a distributed evaluation: the DefaultSampler's
    interleaved shard of the hand-made samples."""
    import json

    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{store}',
                            rank=rank, world_size=world_size)
    try:
        samples = _hand_samples()
        metric = MultiModalReIDMetric(normalize=False)
        metric.process({}, samples[rank::world_size])
        result = metric.evaluate(len(samples))
        if rank == 0:
            with open(out, 'w') as f:
                json.dump(dict(result=result, retrieval=[
                    g['index'] for g in metric.last_retrieval[0]['gallery']
                ]), f)
    finally:
        dist.destroy_process_group()


def test_distributed_evaluation_equals_one_process(tmp_path):
    import json

    import torch.multiprocessing as mp
    out = tmp_path / 'result.json'
    # forked, not spawned: a spawned child imports torch again (seconds)
    mp.start_processes(_evaluate_on_rank,
                       args=(2, str(tmp_path / 'store'), str(out)),
                       nprocs=2, start_method='fork')
    with open(out) as f:
        distributed = json.load(f)
    metric = MultiModalReIDMetric(normalize=False)
    assert distributed['result'] == pytest.approx(
        _evaluate(metric, _hand_samples()))
    assert distributed['retrieval'] == [
        g['index'] for g in metric.last_retrieval[0]['gallery']]


# ---------------------------------------------------------------------- #
# Registration and bad input
# ---------------------------------------------------------------------- #
def test_registered_and_built_from_a_config():
    assert METRICS.get('MultiModalReIDMetric') is MultiModalReIDMetric
    metric = METRICS.build(dict(type='MultiModalReIDMetric', ranks=[1, 3]))
    assert metric.ranks == (1, 3)


@pytest.mark.parametrize('kwargs, key', [
    (dict(metric=['mAP', 'Rank1']), 'metric'),
    (dict(metric=[]), 'metric'),
    (dict(ranks=(0, 5)), 'ranks'),
    (dict(chunk_size=0), 'chunk_size'),
    (dict(retrieval_topk=0), 'retrieval_topk'),
])
def test_bad_config_names_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=f'MultiModalReIDMetric.{key}'):
        MultiModalReIDMetric(**kwargs)


def test_bad_samples_name_what_is_missing():
    metric = MultiModalReIDMetric()
    sample = _sample([1., 0.], 1, 0, name='x')
    del sample['camid']
    with pytest.raises(DataError, match=r"\['camid'\].*RGB/x.jpg"):
        metric.process({}, [sample])
    with pytest.raises(DataError, match='0 queries and 2 gallery'):
        _evaluate(MultiModalReIDMetric(), [
            _sample([1., 0.], 1, 0, False), _sample([0., 1.], 1, 1, False)])
    with pytest.raises(DataError, match='none of the 1 queries'):
        _evaluate(MultiModalReIDMetric(), [
            _sample([1., 0.], 1, 0, True, False),
            _sample([0., 1.], 2, 1, False)])
    with pytest.raises(DataError, match=r'sizes differ.*\[2, 3\]'):
        _evaluate(MultiModalReIDMetric(), [
            _sample([1., 0.], 1, 0), _sample([0., 1., 0.], 1, 1)])
