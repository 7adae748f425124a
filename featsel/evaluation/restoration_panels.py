"""Side-by-side pictures of restoration results, e.g. ``degraded | output |
clean``, each column labelled (with its PSNR against the clean image)."""
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from featsel.visualization import draw_label

Image = Union[torch.Tensor, np.ndarray]


def to_uint8_rgb(image: Image) -> np.ndarray:
    """``(3, H, W)`` float RGB in [0, 1] (tensor or array) -> ``(H, W, 3)``
    uint8, values clipped and rounded."""
    if isinstance(image, torch.Tensor):
        image = image.detach().float().cpu().numpy()
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f'expected a (3, H, W) image, got {image.shape}')
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8).transpose(
        1, 2, 0).copy()


def draw_restoration_panel(columns: Sequence[Tuple[str, Image]],
                           height: int = 256) -> np.ndarray:
    """Images side by side, scaled to one height, each with its label.

    Args:
        columns (Sequence[tuple[str, Image]]): ``(label, (3, H, W) image in
            [0, 1])`` in drawing order, e.g. ``[('degraded 21.3 dB', lq),
            ('output 27.9 dB', pred), ('clean', gt)]``.
        height (int): Height of the picture in pixels; smaller images are
            enlarged without interpolation (pixels stay visible) so the
            labels fit. Defaults to 256.

    Returns:
        np.ndarray: ``(height, sum of widths + 2 (N - 1), 3)`` uint8 RGB with
        2-pixel black lines between the columns.
    """
    if not columns:
        raise ValueError('draw_restoration_panel needs at least one image')
    images = [to_uint8_rgb(image) for _, image in columns]
    drawn = []
    for (label, _), image in zip(columns, images):
        width = max(1, round(image.shape[1] * height / image.shape[0]))
        resized = cv2.resize(image, (width, height), interpolation=(
            cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_NEAREST))
        drawn.append(draw_label(np.ascontiguousarray(resized), label))
    gap = np.zeros((height, 2, 3), np.uint8)
    parts = [drawn[0]]
    for panel in drawn[1:]:
        parts += [gap, panel]
    return np.concatenate(parts, axis=1)
