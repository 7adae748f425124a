"""Pictures of gate and weight maps: where each expert or scale wins, and
how strongly, for one image and one task."""
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch.nn.functional as F
from torch import Tensor

from .multitask_visualizer import draw_label

if TYPE_CHECKING:  # importing featsel.models here would slow the import
    from ..models.base import GateRecord

_BLANK = 96
_IMAGE_SHARE = 0.3  # of the image grey level under the expert colours


def group_by_task(
    records: Dict[str, 'GateRecord']
) -> Dict[str, Dict[str, 'GateRecord']]:
    """Split ``'<scale>/<task>'`` records by task, keeping their order.

    Returns:
        dict: task -> {scale: record}; a name without ``/`` goes to task
        ``'all'`` under its own name.
    """
    grouped: Dict[str, Dict[str, 'GateRecord']] = {}
    for name, record in records.items():
        scale, task = name.rsplit('/', 1) if '/' in name else (name, 'all')
        grouped.setdefault(task, {})[scale] = record
    return grouped


def draw_gate_maps(image: np.ndarray,
                   records: Dict[str, 'GateRecord'],
                   input_size: Optional[Sequence[int]] = None,
                   panel_size: int = 160) -> np.ndarray:
    """Picture of an image and the gates of one task, one column per gate.

    Column 0 holds the image (top) and the colour scale of the weight maps
    (bottom). Then, per record of the first sample of the batch:

    - ``'softmax'`` ``alpha (1, K, ...)``, averaged over channels when it
      has them: top, the expert (or scale) with the largest weight at each
      pixel in its own colour, numbered in the legend; bottom, that largest
      weight (in ``[1/K, 1]``).
    - ``'sigmoid'`` ``w (1, C or 1, H, W)``: top, the channel mean of
      ``w``; bottom, the image multiplied by it.

    Weights share one colour scale from 0 (dark blue) to 1 (yellow). Maps
    are resized to ``input_size`` (the padded input the model saw) and
    cropped to the image, which sits in its top-left corner.

    Args:
        image (np.ndarray): (h, w, 3) uint8 RGB, as the model saw it.
        records (dict[str, GateRecord]): Column title (e.g. the scale
            ``'f3'``) -> record.
        input_size (Sequence[int], optional): ``(H, W)`` of the model input;
            defaults to the image size.
        panel_size (int): Height of each panel in pixels. Defaults to 160.

    Returns:
        np.ndarray: (2 * panel_size, (1 + R) * W', 3) uint8 RGB for R
        records, ``W'`` the image width scaled to the panel height.
    """
    h, w = image.shape[:2]
    input_size = tuple(input_size or (h, w))
    size = (max(1, round(w * panel_size / h)), panel_size)  # cv2: (W, H)
    shown = cv2.resize(np.ascontiguousarray(image, np.uint8), size,
                       interpolation=cv2.INTER_LINEAR)
    grey = shown.mean(axis=2, keepdims=True)
    columns = [(draw_label(shown.copy(), 'image'),
                draw_label(_colour_scale(shown.shape), 'weight'))]
    for title, record in records.items():
        value = record.value.detach()[0].float().cpu()
        if record.kind == 'softmax':
            alpha = _resize(_per_expert(value), input_size, (h, w), size)
            columns.append(_softmax_panels(alpha, grey, title))
        elif record.kind == 'sigmoid':
            weight = _resize(_channel_mean(value), input_size, (h, w),
                             size)[0]
            top = draw_label(heat_map(weight), f'{title} mean w')
            bottom = (shown * weight[..., None]).astype(np.uint8)
            columns.append((top, draw_label(bottom, f'{title} image x w')))
        else:
            raise ValueError(f'gate record "{title}": kind must be '
                             f'"softmax" or "sigmoid", not "{record.kind}"')
    drawn = np.concatenate(
        [np.concatenate(col, axis=0) for col in columns], axis=1)
    # thin dark lines between the panels
    drawn[panel_size - 1:panel_size + 1] = 0
    drawn[:, [x for c in range(1, len(columns))
              for x in (c * size[0] - 1, c * size[0])]] = 0
    return drawn


def _colormap(name: str):
    """A matplotlib colormap, imported on first use."""
    import matplotlib
    return matplotlib.colormaps[name]


def _per_expert(alpha: Tensor) -> Tensor:
    """(K, ...) weights of one sample -> (K, H, W), channel-averaged."""
    if alpha.dim() == 1:
        return alpha[:, None, None]
    while alpha.dim() > 3:
        alpha = alpha.mean(1)
    return alpha if alpha.dim() == 3 else alpha[..., None]


def _channel_mean(weight: Tensor) -> Tensor:
    """(C or 1, H, W) weights of one sample -> (1, H, W)."""
    if weight.dim() < 2:
        return weight.mean().reshape(1, 1, 1)
    return weight.reshape(-1, *weight.shape[-2:]).mean(0, keepdim=True)


def _resize(maps: Tensor, input_size: Tuple[int, int],
            image_size: Tuple[int, int], size: Tuple[int, int]) -> np.ndarray:
    """(N, h', w') maps over the padded input -> (N, H_p, W_p) numpy over
    the image at panel size ``size`` (W_p, H_p)."""
    h, w = image_size
    full = F.interpolate(maps[None], size=input_size, mode='bilinear',
                         align_corners=False)[0, :, :h, :w]
    return F.interpolate(full[None], size=size[::-1], mode='bilinear',
                         align_corners=False)[0].numpy()


def _softmax_panels(alpha: np.ndarray, grey: np.ndarray,
                    title: str) -> Tuple[np.ndarray, np.ndarray]:
    """Arg-max colour panel with a legend, and max-weight heat panel."""
    num = alpha.shape[0]
    colours = _expert_colours(num)
    top = (1 - _IMAGE_SHARE) * colours[alpha.argmax(0)] + _IMAGE_SHARE * grey
    top = _legend(draw_label(top.astype(np.uint8), f'{title} argmax of {num}'),
                  colours)
    bottom = draw_label(heat_map(alpha.max(0)), f'{title} max weight')
    return top, bottom


def _expert_colours(num: int) -> np.ndarray:
    """(num, 3) float RGB colours, one per expert."""
    cmap = _colormap('tab10' if num <= 10 else 'tab20')
    return np.asarray(cmap(np.arange(num) % cmap.N))[:, :3] * 255


def heat_map(value: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 viridis."""
    rgba = _colormap('viridis')(np.clip(value, 0, 1))
    return (rgba[..., :3] * 255).astype(np.uint8)


def _colour_scale(shape: Tuple[int, ...]) -> np.ndarray:
    """A grey panel with the 0..1 colour scale across its middle."""
    panel = np.full(shape, _BLANK, np.uint8)
    h, w = shape[:2]
    top, bottom, left, right = h * 2 // 5, h * 3 // 5, w // 10, w * 9 // 10
    ramp = np.linspace(0, 1, max(right - left, 1))[None].repeat(
        max(bottom - top, 1), 0)
    panel[top:bottom, left:right] = heat_map(ramp)
    scale = max(0.3, h / 400)
    for text, x in (('0', left), ('1', right)):
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale,
                                      1)
        cv2.putText(panel, text, (x - tw // 2, bottom + th + 4),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return panel


def _legend(panel: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Numbered colour boxes along the bottom-left corner."""
    h, w = panel.shape[:2]
    box = max(10, h // 12)
    if box * len(colours) > w:
        return panel
    scale = box / 40
    for k, colour in enumerate(colours):
        x0, y0 = k * box, h - box
        cv2.rectangle(panel, (x0, y0), (x0 + box - 1, h - 1),
                      tuple(int(c) for c in colour), -1)
        text = 0 if colour.mean() > 140 else 255
        cv2.putText(panel, str(k), (x0 + box // 4, h - box // 4),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (text, ) * 3, 1,
                    cv2.LINE_AA)
    return panel



def display_image(inputs: Tensor, data_preprocessor) -> np.ndarray:
    """(3, H, W) pipeline image -> (H, W, 3) uint8 RGB.

    A preprocessor that converts channels (``bgr_to_rgb``) receives BGR
    images (mmcv's loader); otherwise the images are taken as RGB.
    """
    image = inputs.detach().cpu().permute(1, 2, 0).numpy()
    if getattr(data_preprocessor, '_channel_conversion', False):
        image = image[..., ::-1]
    return np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
