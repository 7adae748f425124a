"""P identities x K images per batch, for triplet-style ReID losses."""
from typing import Dict, Iterator, List, Optional, Sized

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from featsel.registry import DATA_SAMPLERS
from featsel.utils import ConfigError


@DATA_SAMPLERS.register_module()
class IdentityBalancedSampler(Sampler):
    """Identity-balanced sampler: every batch holds ``P = num_identities``
    identities with ``K = num_instances`` images each, and in every
    iteration the ranks hold different identities.

    Each epoch, with a random stream seeded by ``(seed, epoch)`` (the same
    on every rank), the images of each identity are shuffled and cut into
    chunks of K (an identity with fewer than K images is drawn K times with
    replacement; a remainder under K is left out this epoch). The epoch has
    ``S = max(1, total chunks // (world_size * P))`` steps; each step draws
    ``world_size * P`` distinct identities without replacement, with
    probability proportional to their chunks left, and takes one chunk of
    each. Rank ``r`` gets the identities ``r*P .. r*P + P - 1`` of the step.
    An identity whose chunks are used up is dealt a fresh set only when
    fewer than ``world_size * P`` identities have chunks left, so every
    chunk is used about once per epoch.

    A rank yields ``S * P * K`` indices, K per identity in a row: use it
    with a data loader whose ``batch_size`` is ``P * K``.

    Example config::

        train_dataloader = dict(
            batch_size=8 * 4,
            sampler=dict(type='IdentityBalancedSampler', num_identities=8,
                         num_instances=4),
            dataset=dict(type='RGBNT201Dataset', ...))

    Args:
        dataset (Sized): A data set whose ``get_data_info(i)['gt_label']``
            is the identity of sample ``i``.
        num_identities (int): P, identities per batch (per rank).
        num_instances (int): K, images per identity in a batch.
        seed (int, optional): Random seed, the same on every rank. Defaults
            to None (a seed drawn and shared by rank 0, as mmengine's
            ``DefaultSampler`` does).
        rank (int, optional): This rank. Defaults to None (mmengine's
            ``get_dist_info``).
        world_size (int, optional): Number of ranks. Defaults to None
            (mmengine's ``get_dist_info``).

    Raises:
        ConfigError: If P or K is below 1, ``rank`` is not in
            ``[0, world_size)``, or the data set holds fewer than
            ``world_size * P`` identities.
    """

    def __init__(self,
                 dataset: Sized,
                 num_identities: int,
                 num_instances: int,
                 seed: Optional[int] = None,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        if num_identities < 1 or num_instances < 1:
            raise ConfigError(
                'IdentityBalancedSampler: num_identities and num_instances '
                f'must be >= 1, got {num_identities} and {num_instances}')
        dist_rank, dist_world = get_dist_info()
        self.rank = dist_rank if rank is None else rank
        self.world_size = dist_world if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(
                f'IdentityBalancedSampler: rank {self.rank} is not in '
                f'[0, {self.world_size})')
        self.dataset = dataset
        self.num_identities = num_identities
        self.num_instances = num_instances
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        by_label: Dict[int, List[int]] = {}
        for i in range(len(dataset)):
            label = int(dataset.get_data_info(i)['gt_label'])
            by_label.setdefault(label, []).append(i)
        self.labels = sorted(by_label)
        self.indices = [np.asarray(by_label[k]) for k in self.labels]
        per_step = self.world_size * num_identities
        if len(self.labels) < per_step:
            raise ConfigError(
                f'IdentityBalancedSampler: world_size x num_identities = '
                f'{self.world_size} x {num_identities} = {per_step} '
                f'identities per step, but the data set holds '
                f'{len(self.labels)}')
        chunks = sum(max(1, len(ix) // num_instances) for ix in self.indices)
        self.num_steps = max(1, chunks // per_step)

    def _deal(self, rng: np.random.Generator, label: int) -> np.ndarray:
        """A fresh shuffled set of chunks (n, K) of identity ``label``."""
        ix = rng.permutation(self.indices[label])
        k = self.num_instances
        if len(ix) < k:
            ix = rng.choice(ix, k, replace=True)
        n = len(ix) // k
        return ix[:n * k].reshape(n, k)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        num = len(self.labels)
        p = self.num_identities
        per_step = self.world_size * p
        chunks = [self._deal(rng, j) for j in range(num)]
        used = np.zeros(num, np.int64)
        left = np.array([len(c) for c in chunks], np.float64)
        mine: List[int] = []
        for _ in range(self.num_steps):
            if np.count_nonzero(left) < per_step:
                for j in np.flatnonzero(left == 0):
                    chunks[j], used[j] = self._deal(rng, j), 0
                    left[j] = len(chunks[j])
            step = rng.choice(
                num, per_step, replace=False, p=left / left.sum())
            for j in step[self.rank * p:(self.rank + 1) * p]:
                mine += chunks[j][used[j]].tolist()
            used[step] += 1
            left[step] -= 1
        return iter(mine)

    def __len__(self) -> int:
        """Indices per rank and epoch: ``S * P * K``."""
        return self.num_steps * self.num_identities * self.num_instances

    def set_epoch(self, epoch: int) -> None:
        """Draw the batches of ``epoch`` next (the runner calls this)."""
        self.epoch = epoch
