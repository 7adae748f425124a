"""Images and clean targets of a restoration batch as floats in [0, 1]."""
from typing import List, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from ...registry import MODELS
from ...utils import DataError


def to_unit_range(image: Tensor) -> Tensor:
    """A uint8 image as float ``x / 255``; a float image as it is (assumed
    in [0, 1] already)."""
    if image.dtype == torch.uint8:
        return image.float() / 255
    if not image.is_floating_point():
        raise DataError(f'images must be uint8 or float in [0, 1], got '
                        f'{image.dtype}')
    return image.float()


@MODELS.register_module()
class RestorationDataPreprocessor(BaseDataPreprocessor):
    """Move a restoration batch to the model's device and scale it to
    [0, 1].

    Inputs (degraded images, ``(3, H, W)`` uint8 as
    :class:`~featsel.datasets.transforms.PackRestorationInputs` packs them)
    become ``x / 255``; the ``gt_img`` of each data sample (a tensor, or a
    ``PixelData`` holding one) becomes a float tensor the same way, so the
    losses and the metric see the same range as the model. Images of one
    size are stacked to ``(B, 3, H, W)``; images of different sizes stay a
    list (allowed at inference only, where the model groups them by size).

    Args:
        non_blocking (bool): Copy to the device without blocking.
            Defaults to False.
    """

    def __init__(self, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Args: data (dict): ``inputs`` (list of ``(3, H, W)`` tensors or
        a ``(B, 3, H, W)`` tensor) and optionally ``data_samples``.

        Returns:
            dict: ``inputs`` float ``(B, 3, H, W)`` (or a list of ``(3, H,
            W)`` for mixed sizes), ``data_samples`` with float ``gt_img``.

        Raises:
            DataError: Training images of different sizes, or images that
                are neither uint8 nor float.
        """
        data = self.cast_data(data)
        inputs = self._stack(data['inputs'], training)
        samples = data.get('data_samples')
        for sample in samples or []:
            if 'gt_img' in sample:
                gt = sample.gt_img
                sample.gt_img = to_unit_range(getattr(gt, 'data', gt))
        return dict(inputs=inputs, data_samples=samples)

    @staticmethod
    def _stack(inputs: Union[Tensor, Sequence[Tensor]],
               training: bool) -> Union[Tensor, List[Tensor]]:
        if isinstance(inputs, Tensor):
            return to_unit_range(inputs)
        images = [to_unit_range(x) for x in inputs]
        shapes = sorted({tuple(x.shape) for x in images})
        if len(shapes) == 1:
            return torch.stack(images)
        if training:
            raise DataError(f'training images of one batch differ in size: '
                            f'{shapes}; crop them to one size in the '
                            'pipeline (PairedRandomCrop)')
        return images

