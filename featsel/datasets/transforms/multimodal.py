"""Transforms for aligned multi-modal samples stacked on the channel axis.

:class:`LoadMultiModalImages` reads the M modality images of a sample and
stacks them into one ``(H, W, 3M)`` array, so every geometric transform
applies the same random parameters to every modality and the modalities
stay aligned. mmcv's ``Resize`` (every interpolation) and ``RandomFlip``
work on any number of channels; mmcv's ``Pad`` does not (OpenCV's border
fill takes at most 4 channel values): use :class:`RandomPadCrop`.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.structures import ReIDDataSample
from mmengine import fileio

from featsel.registry import TRANSFORMS
from featsel.utils import ConfigError, DataError

Numbers = Sequence[float]


def read_image(path: str, channel_order: str,
               backend_args: Optional[dict] = None) -> np.ndarray:
    """Read a colour image.

    Args:
        path (str): File.
        channel_order (str): ``'rgb'`` or ``'bgr'``.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        np.ndarray: (H, W, 3) uint8.

    Raises:
        DataError: If the file is missing, empty or not an image, naming it.
    """
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise DataError(f'image "{path}" does not exist') from None
    try:
        img = mmcv.imfrombytes(
            data, flag='color', channel_order=channel_order, backend='cv2')
    except (ValueError, cv2.error) as err:
        img, why = None, f' ({type(err).__name__}: {err})'
    else:
        why = ''
    if img is None:
        raise DataError(f'cannot read image "{path}": the file is empty, '
                        f'truncated or not an image{why}')
    return img


@TRANSFORMS.register_module()
class LoadMultiModalImages(BaseTransform):
    """Read every modality of a sample and stack them on the channel axis.

    Modality ``m`` (the m-th of ``results['modalities']``) fills channels
    ``3m:3m+3``. A modality image of another size than the first is
    resized to the first's size (bilinear), as the modalities of a sample
    are aligned views. A sample with ``img_tiles`` (modality ->
    ``(index, count)``, e.g. RGBNT100) reads one file holding the
    modalities side by side and cuts it into ``count`` tiles of equal
    width.

    Required keys: ``img_paths`` (dict modality -> file), ``modalities``.
    Optional: ``img_tiles``. Added keys: ``img`` (H, W, 3M) uint8,
    ``img_shape``, ``ori_shape`` (H, W).

    Args:
        channel_order (str): ``'rgb'`` or ``'bgr'`` for every modality.
            Defaults to ``'rgb'``.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None (local files).

    Raises:
        DataError: If a file is missing, empty or not an image, or a tiled
            file's width is not divisible into its tiles; the message names
            the file.
    """

    def __init__(self,
                 channel_order: str = 'rgb',
                 backend_args: Optional[dict] = None) -> None:
        if channel_order not in ('rgb', 'bgr'):
            raise ConfigError(
                f"LoadMultiModalImages.channel_order must be 'rgb' or "
                f"'bgr', got {channel_order!r}")
        self.channel_order = channel_order
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        paths = results['img_paths']
        tiles = results.get('img_tiles')
        read = {}
        imgs = []
        for m in results['modalities']:
            path = paths[m]
            if path not in read:
                read[path] = read_image(path, self.channel_order,
                                        self.backend_args)
            img = read[path]
            if tiles:
                index, count = tiles[m]
                width = img.shape[1] // count
                if width * count != img.shape[1]:
                    raise DataError(
                        f'image "{path}" is {img.shape[1]} pixels wide, not '
                        f'divisible into its {count} modality tiles')
                img = img[:, index * width:(index + 1) * width]
            if imgs and img.shape[:2] != imgs[0].shape[:2]:
                img = mmcv.imresize(img, imgs[0].shape[1::-1])
            imgs.append(img)
        img = np.ascontiguousarray(np.concatenate(imgs, axis=2))
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(channel_order='
                f'{self.channel_order!r})')


@TRANSFORMS.register_module()
class RandomPadCrop(BaseTransform):
    """Pad every side by ``padding`` pixels of ``pad_val``, then crop a
    random window of the original size: a random shift by up to
    ``padding`` pixels in each direction with the uncovered border filled
    (torchvision's ``Pad(p)`` + ``RandomCrop(size)``, the usual ReID
    recipe), the same shift for every channel.

    Required keys: ``img`` (H, W, C). Modified keys: ``img`` (H, W, C).

    Args:
        padding (int): Pixels added on each side, >= 0. Defaults to 10.
        pad_val (int | float): Fill value. Defaults to 0.
    """

    def __init__(self, padding: int = 10, pad_val: float = 0) -> None:
        if padding < 0:
            raise ConfigError(
                f'RandomPadCrop.padding must be >= 0, got {padding}')
        self.padding = int(padding)
        self.pad_val = pad_val

    def transform(self, results: dict) -> dict:
        img = results['img']
        p = self.padding
        h, w = img.shape[:2]
        dy, dx = np.random.randint(0, 2 * p + 1, size=2)
        padded = np.full((h + 2 * p, w + 2 * p) + img.shape[2:], self.pad_val,
                         img.dtype)
        padded[p:p + h, p:p + w] = img
        results['img'] = np.ascontiguousarray(padded[dy:dy + h, dx:dx + w])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(padding={self.padding}, '
                f'pad_val={self.pad_val})')


@TRANSFORMS.register_module()
class RandomErasing(BaseTransform):
    """Random erasing (Zhong et al., AAAI 2020) of one rectangle, the same
    rectangle on every modality of a stacked sample.

    With probability ``prob`` up to 10 rectangles are drawn, area
    ``a ~ U(area_ratio) * H * W`` and aspect ``r`` log-uniform in
    ``aspect_ratio``, ``h = round(sqrt(a r))``, ``w = round(sqrt(a / r))``;
    the first with ``h < H`` and ``w < W`` is placed uniformly and filled:

    * ``fill='random'``: every pixel and channel ``mean_c + std_c z``,
      ``z ~ N(0, 1)``, clipped to [0, 255]. After the data preprocessor's
      ``(x - mean) / std`` this is standard normal noise: the ``'pixel'``
      mode of the public ReID recipes, which erase after normalising.
    * ``fill='mean'``: every channel's ``mean_c`` (zero after
      normalising).

    ``mean`` and ``std`` are in the image's units (0-255, the channel order
    of the loaded images), either one triple shared by every modality or
    one triple per modality (as the data preprocessor takes them).

    Required keys: ``img`` (H, W, 3M). Modified keys: ``img``.

    Args:
        mean (Sequence): ``[r, g, b]`` or ``[[r, g, b], ...]`` per modality.
        std (Sequence, optional): Same form; needed by ``fill='random'``.
            Defaults to None.
        prob (float): Probability of erasing. Defaults to 0.5.
        area_ratio (tuple[float, float]): Range of the erased fraction of
            the image. Defaults to (0.02, 1/3).
        aspect_ratio (tuple[float, float]): Range of ``h / w``. Defaults to
            (0.3, 1/0.3).
        fill (str): ``'random'`` or ``'mean'``. Defaults to ``'random'``.

    Raises:
        ConfigError: For an unknown ``fill``, a missing ``std`` with
            ``fill='random'``, or a malformed ``mean``/``std``.
        DataError: If the image's channels are not 3 per listed modality.
    """

    ATTEMPTS = 10

    def __init__(self,
                 mean: Union[Numbers, Sequence[Numbers]],
                 std: Optional[Union[Numbers, Sequence[Numbers]]] = None,
                 prob: float = 0.5,
                 area_ratio: Tuple[float, float] = (0.02, 1 / 3),
                 aspect_ratio: Tuple[float, float] = (0.3, 1 / 0.3),
                 fill: str = 'random') -> None:
        if fill not in ('random', 'mean'):
            raise ConfigError(
                f"RandomErasing.fill must be 'random' or 'mean', got "
                f'{fill!r}')
        if fill == 'random' and std is None:
            raise ConfigError("RandomErasing.std is needed by fill='random'")
        if not 0 < area_ratio[0] <= area_ratio[1] < 1:
            raise ConfigError('RandomErasing.area_ratio must be (low, high) '
                              f'with 0 < low <= high < 1, got {area_ratio}')
        self.mean = self._triples(mean, 'mean')
        self.std = None if std is None else self._triples(std, 'std')
        self.prob = prob
        self.area_ratio = tuple(area_ratio)
        self.log_aspect = (math.log(aspect_ratio[0]),
                           math.log(aspect_ratio[1]))
        self.fill = fill

    @staticmethod
    def _triples(value: Sequence, key: str) -> np.ndarray:
        arr = np.asarray(value, np.float32)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ConfigError(
                f'RandomErasing.{key} must be [r, g, b] or one [r, g, b] '
                f'per modality, got {value}')
        return arr

    def _per_channel(self, arr: np.ndarray, channels: int) -> np.ndarray:
        modalities = channels // 3
        if len(arr) == 1:
            arr = np.repeat(arr, modalities, 0)
        if channels % 3 or len(arr) != modalities:
            raise DataError(
                f'RandomErasing: the image has {channels} channels, the '
                f'config gives {len(arr)} mean/std triples; give one triple '
                'or one per modality')
        return arr.reshape(-1)

    def _rectangle(self, h: int, w: int) -> Optional[Tuple[int, ...]]:
        for _ in range(self.ATTEMPTS):
            area = np.random.uniform(*self.area_ratio) * h * w
            aspect = math.exp(np.random.uniform(*self.log_aspect))
            eh = int(round(math.sqrt(area * aspect)))
            ew = int(round(math.sqrt(area / aspect)))
            if 0 < eh < h and 0 < ew < w:
                y = np.random.randint(0, h - eh + 1)
                x = np.random.randint(0, w - ew + 1)
                return y, x, eh, ew
        return None

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w, c = img.shape
        # checked on every call, so a wrong config fails at once
        mean = self._per_channel(self.mean, c)
        std = None if self.std is None else self._per_channel(self.std, c)
        if np.random.rand() >= self.prob:
            return results
        box = self._rectangle(h, w)
        if box is None:
            return results
        y, x, eh, ew = box
        if self.fill == 'mean':
            patch = np.broadcast_to(mean, (eh, ew, c))
        else:
            patch = mean + std * np.random.standard_normal((eh, ew, c))
        img = img.copy()
        img[y:y + eh, x:x + ew] = np.clip(np.round(patch), 0, 255)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'area_ratio={self.area_ratio}, fill={self.fill!r})')


@TRANSFORMS.register_module()
class PackMultiModalReIDInputs(BaseTransform):
    """Pack a stacked multi-modal sample for a ReID model.

    mmdet's ``PackReIDInputs`` packs ``(1, C, H, W)`` and fails with a bare
    ``KeyError`` on a missing meta key; this packs ``(3M, H, W)`` and copies
    the meta keys that are present.

    Required keys: ``img`` (H, W, 3M), ``gt_label``. Added keys:
    ``inputs`` uint8 tensor (3M, H, W) and ``data_samples``
    (mmdet ``ReIDDataSample``: ``gt_label`` set, ``meta_keys`` as
    metainfo).

    Args:
        meta_keys (Sequence[str]): Results keys copied into the metainfo
            when present. Defaults to the sample keys of the multi-modal
            ReID data sets and the image shapes.

    Raises:
        DataError: If ``img`` or ``gt_label`` is missing.
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = ('img_path', 'img_paths', 'modalities',
                                    'pid', 'camid', 'sceneid', 'is_query',
                                    'is_gallery', 'ori_shape', 'img_shape',
                                    'flip')
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        for key, by in (('img', 'LoadMultiModalImages'),
                        ('gt_label', 'the data set')):
            if key not in results:
                raise DataError(
                    f'PackMultiModalReIDInputs needs results["{key}"] '
                    f'(written by {by}); sample '
                    f'"{results.get("img_path", "?")}"')
        img = results['img']
        inputs = torch.from_numpy(
            np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = ReIDDataSample()
        sample.set_gt_label(int(results['gt_label']))
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
