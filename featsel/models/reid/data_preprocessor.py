"""Normalise M aligned modality images stacked on the channel axis."""
from typing import Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from ...registry import MODELS
from ...utils import ConfigError, DataError


@MODELS.register_module()
class MultiModalReIDDataPreprocessor(BaseDataPreprocessor):
    """Stack a batch of ``(3M, H, W)`` images and normalise each modality.

    Modality ``m`` occupies channels ``3m:3m+3`` (the layout
    ``LoadMultiModalImages`` writes), and
    ``x[:, 3m + c] = (x[:, 3m + c] - mean[m][c]) / std[m][c]``.

    Args:
        mean (Sequence[Sequence[float]]): One ``(c0, c1, c2)`` triple per
            modality, in the model's modality order.
        std (Sequence[Sequence[float]]): As ``mean``.
        non_blocking (bool): Copy to the device without blocking.
            Defaults to False.
    """

    def __init__(self,
                 mean: Sequence[Sequence[float]],
                 std: Sequence[Sequence[float]],
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        for key, value in (('mean', mean), ('std', std)):
            if not value or any(len(v) != 3 for v in value):
                raise ConfigError(
                    f'data_preprocessor.{key} must hold one 3-value triple '
                    f'per modality, got {value}')
        if len(mean) != len(std):
            raise ConfigError(
                f'data_preprocessor.mean gives {len(mean)} modalities but '
                f'data_preprocessor.std gives {len(std)}')
        self.register_buffer(
            'mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1),
            persistent=False)
        self.register_buffer(
            'std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1),
            persistent=False)

    @property
    def num_modalities(self) -> int:
        """``M``, the number of modalities the statistics are given for."""
        return self.mean.numel() // 3

    def forward(self, data: dict, training: bool = False) -> dict:
        """Args: data (dict): ``inputs`` (list of ``(3M, H, W)`` tensors or
        a ``(B, 3M, H, W)`` tensor) and optionally ``data_samples``.

        Returns:
            dict: ``inputs`` float ``(B, 3M, H, W)``, ``data_samples``.
        """
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) > 1:
                raise DataError(
                    f'images of one batch differ in size: {sorted(shapes)}; '
                    'resize them to one size in the data pipeline')
            inputs = torch.stack(list(inputs))
        channels = inputs.shape[1]
        if channels != self.mean.numel():
            raise ConfigError(
                f'the images have {channels} channels but '
                f'data_preprocessor.mean is given for {self.num_modalities} '
                f'modalities ({self.mean.numel()} channels): give one '
                'mean/std triple per modality of the data')
        inputs = (inputs.float() - self.mean) / self.std
        return dict(inputs=inputs, data_samples=data.get('data_samples'))

