"""Loading transforms whose failures name the file at fault."""
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations

from featsel.registry import TRANSFORMS
from featsel.utils import DataError


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile``; a missing, empty, truncated or
    undecodable file is a :class:`~featsel.utils.DataError` naming it.

    Required keys: ``img_path``. Added keys: ``img`` (H, W, 3) uint8,
    ``img_shape``, ``ori_shape`` (H, W). Arguments are those of mmcv's
    ``LoadImageFromFile``; under the mmdet scope write
    ``type='featsel.CheckedLoadImageFromFile'``.
    """

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            return super().transform(results)
        except FileNotFoundError:
            raise DataError(f'image "{path}" does not exist') from None
        # cv2 returns None for bytes it cannot decode (AssertionError in
        # mmcv) and fails on an empty file, pillow raises an OSError
        except (OSError, ValueError, AssertionError, cv2.error) as err:
            raise DataError(
                f'cannot read image "{path}": the file is empty, truncated '
                f'or not an image ({type(err).__name__}: {err})') from None


@TRANSFORMS.register_module()
class CheckedLoadAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` with checked mask files.

    A missing, truncated or undecodable mask is a
    :class:`~featsel.utils.DataError` naming the file. A mask saved with
    colour channels, (H, W, C), is accepted when all channels are equal
    (a grey mask written as RGB) and becomes (H, W); channels that differ
    are an error naming the file, as class indices cannot be read from
    colours.

    Required keys: ``seg_map_path``, ``reduce_zero_label``,
    ``seg_fields``. Added keys: ``gt_seg_map`` (H, W) uint8. Arguments are
    those of mmseg's ``LoadAnnotations``.
    """

    def _load_seg_map(self, results: dict) -> None:
        path = results['seg_map_path']
        try:
            super()._load_seg_map(results)
        except FileNotFoundError:
            raise DataError(f'mask "{path}" does not exist') from None
        # pillow raises an OSError; cv2 fails on an empty file and returns
        # None for other bad bytes, whose .squeeze() in mmseg raises an
        # AttributeError
        except (OSError, ValueError, AttributeError, cv2.error) as err:
            raise DataError(
                f'cannot read mask "{path}": the file is empty, truncated '
                f'or not an image ({type(err).__name__}: {err})') from None
        mask = results['gt_seg_map']
        if mask.ndim == 3:
            if not (mask == mask[..., :1]).all():
                raise DataError(
                    f'mask "{path}" has {mask.shape[2]} channels that differ; '
                    'save it as a single-channel image of class indices')
            results['gt_seg_map'] = np.ascontiguousarray(mask[..., 0])
