"""IdentityBalancedSampler: P x K batches, disjoint identities across ranks."""
from collections import Counter

import pytest
from mmengine.dataset import BaseDataset
from mmengine.registry import init_default_scope

from featsel.datasets import IdentityBalancedSampler
from featsel.registry import DATA_SAMPLERS
from featsel.utils import ConfigError


class _Labels(BaseDataset):
    """Samples that only carry an identity."""

    def __init__(self, labels):
        self._labels = list(labels)
        super().__init__(serialize_data=False)

    def load_data_list(self):
        return [dict(gt_label=k) for k in self._labels]


# 12 identities: 0-3 with 9 images, 4-7 with 5, 8-9 with 2 (< K), 10-11
# with 1 image.
COUNTS = [9] * 4 + [5] * 4 + [2] * 2 + [1] * 2
LABELS = [k for k, n in enumerate(COUNTS) for _ in range(n)]
P, K = 3, 4


def _batches(sampler):
    indices = list(sampler)
    assert len(indices) == len(sampler)
    assert len(indices) % (P * K) == 0
    return [indices[i:i + P * K] for i in range(0, len(indices), P * K)]


def _check_batch(batch):
    labels = [LABELS[i] for i in batch]
    # P identities, K images each, K in a row
    assert Counter(labels) == Counter({k: K for k in set(labels)})
    assert len(set(labels)) == P
    for i in range(0, P * K, K):
        assert len(set(labels[i:i + K])) == 1
    return set(labels)


def test_batches_hold_p_identities_of_k_images():
    sampler = IdentityBalancedSampler(
        _Labels(LABELS), num_identities=P, num_instances=K, seed=0, rank=0,
        world_size=1)
    # chunks: 4 x 2 + 4 x 1 + 2 x 1 + 2 x 1 = 16 -> 16 // 3 = 5 steps
    assert sampler.num_steps == 5 and len(sampler) == 5 * P * K
    seen = Counter()
    for batch in _batches(sampler):
        seen.update(_check_batch(batch))
        # identities 10 and 11 have one image each, drawn K times
        for label in {10, 11} & {LABELS[i] for i in batch}:
            assert batch.count(LABELS.index(label)) == K
    assert seen[10] + seen[11] >= 1
    # every chunk is used about once per epoch: 15 of the 16 chunks
    assert sum(seen.values()) == 15
    assert all(seen[k] <= max(1, n // K) for k, n in enumerate(COUNTS))


def test_ranks_get_disjoint_identities_and_equal_lengths():
    dataset = _Labels(LABELS)
    ranks = [
        IdentityBalancedSampler(dataset, P, K, seed=7, rank=r, world_size=2)
        for r in range(2)
    ]
    # 16 chunks // (2 x 3) identities per step
    assert len(ranks[0]) == len(ranks[1]) == 2 * P * K
    for epoch in range(4):
        for s in ranks:
            s.set_epoch(epoch)
        for b0, b1 in zip(*map(_batches, ranks)):
            assert not _check_batch(b0) & _check_batch(b1)


def test_deterministic_per_seed_and_epoch():
    dataset = _Labels(LABELS)

    def epoch(seed, e):
        s = IdentityBalancedSampler(dataset, P, K, seed=seed, rank=0,
                                    world_size=1)
        s.set_epoch(e)
        return list(s)

    assert epoch(0, 0) == epoch(0, 0)
    assert epoch(0, 0) != epoch(0, 1)
    assert epoch(0, 1) != epoch(1, 1)


def test_defaults_come_from_the_process_group():
    s = IdentityBalancedSampler(_Labels(LABELS), P, K, seed=0)
    assert (s.rank, s.world_size) == (0, 1)


def test_built_from_the_registry():
    init_default_scope('featsel')
    sampler = DATA_SAMPLERS.build(
        dict(type='IdentityBalancedSampler', num_identities=P,
             num_instances=K),
        default_args=dict(dataset=_Labels(LABELS), seed=3))
    assert isinstance(sampler, IdentityBalancedSampler)
    assert sampler.seed == 3


def test_too_few_identities_or_bad_arguments():
    dataset = _Labels(LABELS)
    with pytest.raises(ConfigError, match='2 x 7 = 14 identities per step'):
        IdentityBalancedSampler(dataset, 7, K, seed=0, rank=0, world_size=2)
    with pytest.raises(ConfigError, match='>= 1'):
        IdentityBalancedSampler(dataset, P, 0, seed=0)
    with pytest.raises(ConfigError, match='rank 2'):
        IdentityBalancedSampler(dataset, P, K, seed=0, rank=2, world_size=2)
