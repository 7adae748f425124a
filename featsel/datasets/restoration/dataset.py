"""Paired restoration data listed by a ``meta.jsonl`` file."""
import contextlib
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset

from featsel.registry import DATASETS
from featsel.utils import ConfigError, DataError
from ..checks import require_samples
from .meta import DEGRADATION_TASKS, check_pair_files, read_meta


def _names(value: Union[str, Sequence[str], None],
           key: str) -> Optional[Tuple[str, ...]]:
    if value is None:
        return None
    names = (value, ) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f'{key} must be a name or a non-empty list of '
                          f'names, got {value!r}')
    return names


@DATASETS.register_module()
class PairedRestorationDataset(BaseDataset):
    """(degraded, clean) image pairs listed by ``meta.jsonl``.

    The file's protocol (fields, types, errors) is documented in
    :mod:`featsel.datasets.restoration.meta`; any wrong line stops the
    build with a :class:`~featsel.utils.DataError` naming the file, the line
    and the field. Pairs are kept when their ``split`` is one of ``split``
    and their ``degradation`` one of ``degradations``; the images of the
    kept pairs must exist (else a ``DataError`` names the line and the
    path). Relative image paths start at ``img_root``, by default the
    folder of the meta file.

    Each sample is a dict with ``lq_path``, ``gt_path``, ``img_id``,
    ``task`` (``task_map[degradation]``) and the other fields of its line
    (``dataset``, ``scene_id``, ``split``, ``degradation``, ``severity``,
    ``capture_id``, ``hash``, ``tile_cfg``, ``crop_border``, ``w``, ``h``)
    plus ``meta_line``; the pipeline loads the images
    (:class:`~featsel.datasets.transforms.LoadPairedImages`).
    ``metainfo`` holds ``task_map`` and ``tasks``, the tasks of the kept
    pairs in ``task_map`` order.

    The crop size of the pipeline's ``PairedRandomCrop`` may change during
    training (:meth:`set_crop_size`, for a patch curriculum); every batch is
    cropped to one size, also in DataLoader workers.

    Example config::

        dict(type='PairedRestorationDataset',
             data_root='data/demo_restoration/', ann_file='meta.jsonl',
             split='train', degradations=['haze', 'rain'],
             pipeline=[dict(type='LoadPairedImages'),
                       dict(type='PairedRandomCrop', crop_size=64),
                       dict(type='PairedRandomFlipRot'),
                       dict(type='PackRestorationInputs')])

    Args:
        ann_file (str): The meta file, relative to ``data_root``. Defaults
            to ``'meta.jsonl'``.
        split (str | Sequence[str], optional): Splits kept; None keeps all.
        degradations (Sequence[str], optional): Degradations kept (keys of
            ``task_map``); None keeps all.
        task_map (dict[str, str], optional): Task name per degradation;
            a line with a degradation not in it is an error. Defaults to
            ``{'haze': 'dehaze', 'rain': 'derain', 'snow': 'desnow'}``.
        img_root (str, optional): Folder relative image paths start at,
            itself relative to ``data_root``. Defaults to None (the folder
            of the meta file).
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.

    Raises:
        ConfigError: If ``degradations`` names a degradation not in
            ``task_map``.
        DataError: For a wrong meta file, missing images, or no pair left.
    """

    def __init__(self,
                 ann_file: str = 'meta.jsonl',
                 split: Union[str, Sequence[str], None] = None,
                 degradations: Optional[Sequence[str]] = None,
                 task_map: Optional[Dict[str, str]] = None,
                 img_root: Optional[str] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        self.task_map = dict(DEGRADATION_TASKS if task_map is None else
                             task_map)
        self.splits = _names(split, 'split')
        self.degradations = _names(degradations, 'degradations')
        unknown = [d for d in self.degradations or ()
                   if d not in self.task_map]
        if unknown:
            raise ConfigError(
                f'{type(self).__name__}: degradations names "{unknown[0]}", '
                f'which is not a key of task_map {self.task_map}')
        self.img_root = img_root
        metainfo = dict(metainfo or {}, task_map=self.task_map)
        super().__init__(ann_file=ann_file, metainfo=metainfo, **kwargs)

    def _image_root(self) -> str:
        if self.img_root is None:
            return osp.dirname(self.ann_file)
        if osp.isabs(self.img_root) or not self.data_root:
            return self.img_root
        return osp.join(self.data_root, self.img_root)

    def load_data_list(self) -> List[dict]:
        """Read and check the meta file, keep the chosen pairs and check
        that their images exist.

        Returns:
            list[dict]: One dict per kept pair (see the class docstring).
        """
        records = read_meta(self.ann_file)
        for record in records:
            if record['degradation'] not in self.task_map:
                raise DataError(
                    f'{self.ann_file}, line {record["line"]}: degradation '
                    f'"{record["degradation"]}" has no task; task_map '
                    f'knows {", ".join(self.task_map)}')
        kept = [
            r for r in records
            if (self.splits is None or r['split'] in self.splits) and (
                self.degradations is None
                or r['degradation'] in self.degradations)
        ]
        present = sorted({(r['split'], r['degradation']) for r in records})
        require_samples(
            kept, f'{type(self).__name__} "{self.ann_file}"',
            f'no pair has split {self.splits or "(any)"} and degradation '
            f'{self.degradations or "(any)"}; the file holds (split, '
            f'degradation) {present}')
        root = self._image_root()
        check_pair_files(kept, root, self.ann_file)
        tasks = {self.task_map[r['degradation']] for r in kept}
        self._metainfo['tasks'] = tuple(
            t for t in dict.fromkeys(self.task_map.values()) if t in tasks)
        return [self._sample(r, root) for r in kept]

    def _sample(self, record: dict, root: str) -> dict:
        info = {k: v for k, v in record.items()
                if k not in ('id', 'path_raw', 'path_gt', 'line')}
        info.update(
            img_id=record['id'],
            lq_path=osp.join(root, record['path_raw']),
            gt_path=osp.join(root, record['path_gt']),
            task=self.task_map[record['degradation']],
            meta_line=record['line'])
        return info

    def _crop_transforms(self) -> list:
        return [t for t in self.pipeline.transforms
                if hasattr(t, 'set_crop_size')]

    def set_crop_size(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        """Change the crop size of every crop transform of the pipeline (a
        patch curriculum); DataLoader workers that are already running
        pick it up with their next batch.

        Args:
            crop_size (int | tuple[int, int]): New size, ``(h, w)`` or one
                side.

        Raises:
            ConfigError: If the pipeline has no crop transform.
        """
        crops = self._crop_transforms()
        if not crops:
            raise ConfigError(
                f'{type(self).__name__}: the pipeline has no transform with '
                'a settable crop size (PairedRandomCrop)')
        for crop in crops:
            crop.set_crop_size(crop_size)

    def __getitems__(self, indices: Sequence[int]) -> List[dict]:
        """The samples of one batch, every crop transform holding one crop
        size for all of them (PyTorch's DataLoader calls this per batch)."""
        with contextlib.ExitStack() as stack:
            for crop in self._crop_transforms():
                stack.enter_context(crop.hold())
            return [self[i] for i in indices]
