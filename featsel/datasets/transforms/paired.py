"""Transforms of (degraded, clean) image pairs for restoration.

The degraded image travels as ``img`` (so mmcv's conventions for
``img_shape`` hold) and the clean target as ``gt_img``; both are (H, W, 3)
uint8 RGB. Every geometric transform applies the same operation to both,
so they stay pixel-aligned.
"""
import contextlib
from typing import Iterator, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from featsel.registry import TRANSFORMS
from featsel.utils import ConfigError, DataError
from .loading import CheckedLoadImageFromFile

_PAIR = ('img', 'gt_img')


def _size_pair(crop_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    size = ((crop_size, crop_size) if isinstance(crop_size, int) else
            tuple(crop_size))
    if len(size) != 2 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0
            for s in size):
        raise ConfigError(f'crop_size must be a positive int or (h, w), got '
                          f'{crop_size!r}')
    return size


def _present(results: dict) -> Tuple[str, ...]:
    return tuple(k for k in _PAIR if k in results)


@TRANSFORMS.register_module()
class LoadPairedImages(BaseTransform):
    """Load the degraded image and its clean target as RGB.

    Required keys: ``lq_path``; ``gt_path`` (optional: without it only the
    degraded image is loaded, for inference). Added keys: ``img`` (degraded)
    and ``gt_img`` (clean), (H, W, 3) uint8 RGB, ``img_shape`` and
    ``ori_shape`` (H, W). A missing or unreadable file, or a target of
    another size than its degraded image, is a
    :class:`~featsel.utils.DataError` naming the file(s).

    Args:
        backend_args (dict, optional): File backend of mmengine's
            ``fileio`` (as in mmcv's ``LoadImageFromFile``). Defaults to
            None (local files).
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args
        self._load = CheckedLoadImageFromFile(backend_args=backend_args)

    def _read(self, path: str) -> np.ndarray:
        bgr = self._load(dict(img_path=path))['img']
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def transform(self, results: dict) -> dict:
        lq = self._read(results['lq_path'])
        results['img'] = lq
        if results.get('gt_path') is not None:
            gt = self._read(results['gt_path'])
            if gt.shape != lq.shape:
                raise DataError(
                    f'target "{results["gt_path"]}" is {gt.shape[:2]} but '
                    f'its degraded image "{results["lq_path"]}" is '
                    f'{lq.shape[:2]}; a pair must have one size')
            results['gt_img'] = gt
        results['img_shape'] = results['ori_shape'] = lq.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(backend_args={self.backend_args})'


@TRANSFORMS.register_module()
class PairedRandomCrop(BaseTransform):
    """Crop the same random window of ``crop_size`` from both images.

    The crop size lives in shared memory, so :meth:`set_crop_size` (called
    by a curriculum hook in the main process, usually through
    :meth:`PairedRestorationDataset.set_crop_size`) reaches DataLoader
    workers that are already running. Inside :meth:`hold` the size is read
    once, so all samples of a batch get the same size even when it changes
    meanwhile (the data set holds it per batch).

    Required keys: ``img`` and ``gt_img`` (if present) of one size.
    Modified keys: ``img``, ``gt_img``, ``img_shape``.

    Args:
        crop_size (int | tuple[int, int]): ``(h, w)`` of the window, or one
            side for a square.

    Raises:
        DataError: If an image is smaller than the crop (names the file).
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        self._shared = torch.tensor(_size_pair(crop_size),
                                    dtype=torch.int64).share_memory_()
        self._held: Optional[Tuple[int, int]] = None

    @property
    def crop_size(self) -> Tuple[int, int]:
        """The current ``(h, w)``."""
        h, w = self._shared.tolist()
        return int(h), int(w)

    def set_crop_size(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        """Change the crop size for all processes sharing this transform.

        Args:
            crop_size (int | tuple[int, int]): ``(h, w)`` or one side.
        """
        self._shared.copy_(torch.tensor(_size_pair(crop_size)))

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Use the current crop size for every call inside the block."""
        self._held = self.crop_size
        try:
            yield
        finally:
            self._held = None

    def transform(self, results: dict) -> dict:
        ch, cw = self._held or self.crop_size
        h, w = results['img'].shape[:2]
        if h < ch or w < cw:
            raise DataError(
                f'image "{results.get("lq_path")}" is {h}x{w}, smaller than '
                f'the crop {ch}x{cw} (PairedRandomCrop.crop_size)')
        top = np.random.randint(0, h - ch + 1)
        left = np.random.randint(0, w - cw + 1)
        for key in _present(results):
            results[key] = results[key][top:top + ch, left:left + cw]
        results['img_shape'] = (ch, cw)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(crop_size={self.crop_size})'


@TRANSFORMS.register_module()
class PairedRandomFlipRot(BaseTransform):
    """Random horizontal flip, vertical flip and 90° rotation, the same for
    both images.

    Each operation is drawn independently, in the order horizontal flip,
    vertical flip, rotation by 90° counter-clockwise (which swaps height
    and width). The defaults flip horizontally only: rain falls downwards
    and the sky is above the ground, so vertical flips and rotations make
    samples no real image looks like; set ``vflip_prob`` and
    ``rot90_prob`` for degradations without a direction.

    Required keys: ``img``, ``gt_img`` (if present). Modified keys:
    ``img``, ``gt_img``, ``img_shape``.

    Args:
        hflip_prob (float): Probability of a horizontal flip. Defaults to
            0.5.
        vflip_prob (float): Probability of a vertical flip. Defaults to 0.
        rot90_prob (float): Probability of a 90° rotation. Defaults to 0.
    """

    def __init__(self,
                 hflip_prob: float = 0.5,
                 vflip_prob: float = 0.0,
                 rot90_prob: float = 0.0) -> None:
        for key, value in (('hflip_prob', hflip_prob),
                           ('vflip_prob', vflip_prob),
                           ('rot90_prob', rot90_prob)):
            if not 0 <= value <= 1:
                raise ConfigError(f'PairedRandomFlipRot.{key} must be in '
                                  f'[0, 1], got {value}')
        self.hflip_prob = hflip_prob
        self.vflip_prob = vflip_prob
        self.rot90_prob = rot90_prob

    def transform(self, results: dict) -> dict:
        ops = []
        if np.random.rand() < self.hflip_prob:
            ops.append(lambda a: a[:, ::-1])
        if np.random.rand() < self.vflip_prob:
            ops.append(lambda a: a[::-1])
        if np.random.rand() < self.rot90_prob:
            ops.append(np.rot90)
        for key in _present(results):
            arr = results[key]
            for op in ops:
                arr = op(arr)
            results[key] = np.ascontiguousarray(arr)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(hflip_prob={self.hflip_prob}, '
                f'vflip_prob={self.vflip_prob}, '
                f'rot90_prob={self.rot90_prob})')


def _to_chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@TRANSFORMS.register_module()
class PackRestorationInputs(BaseTransform):
    """Pack a pair into the model's inputs and a data sample.

    Output: ``inputs``, the degraded image as a uint8 tensor (3, H, W) RGB,
    and ``data_samples``, a :class:`mmengine.structures.BaseDataElement`
    with the data field ``gt_img`` (uint8 tensor (3, H, W) RGB; absent
    without a target) and the metainfo ``meta_keys`` found in the results:
    by default ``img_id``, ``task``, ``degradation``, ``severity`` (None
    when unknown), ``crop_border``, ``ori_shape`` and ``img_shape``
    (``(H, W)``), ``tile_cfg``, ``dataset``, ``scene_id``, ``lq_path`` and
    ``gt_path``.

    Args:
        meta_keys (Sequence[str]): Results keys copied into the metainfo.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_id', 'task', 'degradation',
                                             'severity', 'crop_border',
                                             'ori_shape', 'img_shape',
                                             'tile_cfg', 'dataset',
                                             'scene_id', 'lq_path',
                                             'gt_path')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        sample = BaseDataElement(
            metainfo={k: results[k]
                      for k in self.meta_keys if k in results})
        if 'gt_img' in results:
            sample.gt_img = _to_chw(results['gt_img'])
        return dict(inputs=_to_chw(results['img']), data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
