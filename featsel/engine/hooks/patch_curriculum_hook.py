"""Grow the training crop size at given iterations (patch curriculum)."""
import bisect
from typing import Optional, Sequence, Tuple, Union

from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...registry import HOOKS
from ...utils import ConfigError

Size = Union[int, Tuple[int, int]]


def find_crop_datasets(dataset) -> list:
    """The data sets with ``set_crop_size`` in ``dataset`` and the data sets
    it wraps (``.dataset`` of RepeatDataset / ClassBalancedDataset,
    ``.datasets`` of ConcatDataset), outermost first."""
    found, pending = [], [dataset]
    while pending:
        current = pending.pop(0)
        if hasattr(current, 'set_crop_size'):
            found.append(current)
            continue
        inner = getattr(current, 'dataset', None)
        pending += [inner] if inner is not None else []
        pending += list(getattr(current, 'datasets', None) or [])
    return found


@HOOKS.register_module()
class PatchCurriculumHook(Hook):
    """Set the crop size of the training set by iteration: ``crop_sizes[i]``
    from iteration ``milestones[i - 1]`` on (``crop_sizes[0]`` before the
    first milestone), e.g. 256 -> 384 -> 512 (SPEC S3).

    The size goes to ``set_crop_size`` of the training set (of every set a
    wrapper such as ConcatDataset holds; a
    :class:`~featsel.datasets.PairedRestorationDataset` passes it to its
    ``PairedRandomCrop``, also in running DataLoader workers; each batch
    has one size). It is set before training, from ``runner.iter`` (so a
    resumed run continues with the right size), and before every iteration
    where it changes (after the iteration before, as the loop fetches a
    batch before its hooks run), with one log line. DataLoader workers may
    already have prepared up to ``num_workers * prefetch_factor`` batches
    at the old size when it changes (the first ones at the pipeline's own
    ``crop_size``); with ``num_workers=0`` the schedule is exact.

    Args:
        crop_sizes (Sequence[int | tuple[int, int]]): Sizes (one side, or
            ``(h, w)``), one more than ``milestones``.
        milestones (Sequence[int]): Increasing iterations where the next
            size starts.
    """

    priority = 'NORMAL'

    def __init__(self, crop_sizes: Sequence[Size],
                 milestones: Sequence[int]) -> None:
        self.crop_sizes = [tuple(s) if isinstance(s, (list, tuple)) else s
                           for s in crop_sizes]
        self.milestones = list(milestones)
        if len(self.crop_sizes) != len(self.milestones) + 1:
            raise ConfigError(
                f'PatchCurriculumHook needs one crop size more than '
                f'milestones, got {len(self.crop_sizes)} sizes and '
                f'{len(self.milestones)} milestones')
        if any(b <= a for a, b in zip(self.milestones,
                                      self.milestones[1:])) or any(
                                          m < 0 for m in self.milestones):
            raise ConfigError(f'PatchCurriculumHook.milestones must be '
                              f'increasing and >= 0, got {self.milestones}')
        self._datasets: list = []
        self._current: Optional[Size] = None

    def crop_size(self, iteration: int) -> Size:
        """The crop size of ``iteration``."""
        return self.crop_sizes[bisect.bisect_right(self.milestones,
                                                   iteration)]

    def _set(self, iteration: int) -> None:
        size = self.crop_size(iteration)
        if size == self._current:
            return
        for dataset in self._datasets:
            dataset.set_crop_size(size)
        self._current = size
        print_log(f'PatchCurriculumHook: crop size {size} from iteration '
                  f'{iteration}', logger='current')

    def before_train(self, runner) -> None:
        self._datasets = find_crop_datasets(runner.train_dataloader.dataset)
        if not self._datasets:
            raise ConfigError(
                'PatchCurriculumHook: the training set has no set_crop_size '
                '(use PairedRestorationDataset with a PairedRandomCrop)')
        self._current = None
        self._set(runner.iter)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        # the loop fetches the next batch before calling any hook, so the
        # size of iteration i + 1 is set once iteration i is done
        self._set(runner.iter + 1)
