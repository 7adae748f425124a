"""Pack images and any number of dense per-task targets into a sample."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from featsel.registry import TRANSFORMS
from featsel.utils import ConfigError, DataError

# Which transform writes each default results key, for error messages.
_PRODUCERS = {
    'gt_seg_map': 'mmseg.LoadAnnotations',
    'gt_sdf_map': 'GenerateSDF',
    'gt_boundary_map': 'GenerateBoundary',
}


@TRANSFORMS.register_module()
class PackMultiTaskInputs(BaseTransform):
    """Pack the image and one dense target per task.

    For each ``task: key`` in ``targets`` the sample gets the field
    ``gt_<task>`` = ``PixelData(data=(1, H, W))``; floating maps are packed
    as ``torch.float32``, all others as ``torch.long``.

    Required keys: ``img`` (H, W, 3) and every value of ``targets``, each
    (H, W) like the image (else a :class:`~featsel.utils.DataError` names
    the image and the mask: a mask of another size would be cropped or
    padded silently further on).
    Added keys: ``inputs`` uint8 tensor (3, H, W) and ``data_samples``
    (:obj:`SegDataSample`) with the fields above and ``meta_keys`` as
    metainfo.

    Args:
        targets (dict[str, str]): Task name -> results key, e.g.
            ``dict(seg='gt_seg_map', sdf='gt_sdf_map',
            bnd='gt_boundary_map')``; the task names are the model's.
        meta_keys (Sequence[str]): Results keys copied into the sample's
            metainfo when present. Defaults to those of mmseg's
            ``PackSegInputs``.
    """

    def __init__(
        self,
        targets: Dict[str, str],
        meta_keys: Sequence[str] = ('img_path', 'seg_map_path', 'ori_shape',
                                    'img_shape', 'pad_shape', 'scale_factor',
                                    'flip', 'flip_direction',
                                    'reduce_zero_label')
    ) -> None:
        if not targets:
            raise ConfigError('PackMultiTaskInputs.targets is empty; give '
                              'task name -> results key, e.g. '
                              "dict(seg='gt_seg_map')")
        self.targets = dict(targets)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0,
                                                                     1)))
        data_sample = SegDataSample()
        for task, key in self.targets.items():
            target = self._to_tensor(results, task, key)
            if target.shape[-2:] != inputs.shape[-2:]:
                raise DataError(
                    f'{key} from "{results.get("seg_map_path")}" is '
                    f'{tuple(target.shape[-2:])} but image '
                    f'"{results.get("img_path")}" is '
                    f'{tuple(inputs.shape[-2:])}; a mask must have the size '
                    'of its image')
            data_sample.set_data({f'gt_{task}': PixelData(data=target)})
        data_sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=data_sample)

    @staticmethod
    def _to_tensor(results: dict, task: str, key: str) -> torch.Tensor:
        """(H, W) array -> (1, H, W) float32 or long tensor."""
        if key not in results:
            producer = _PRODUCERS.get(key, 'the transform that writes it')
            raise ConfigError(
                f'Task "{task}" needs results["{key}"], which is missing; '
                f'add {producer} to the pipeline before PackMultiTaskInputs.')
        target = np.asarray(results[key])
        dtype = np.float32 if np.issubdtype(target.dtype,
                                            np.floating) else np.int64
        return torch.from_numpy(np.ascontiguousarray(target[None],
                                                     dtype=dtype))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(targets={self.targets}, '
                f'meta_keys={self.meta_keys})')
