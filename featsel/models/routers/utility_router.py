"""Sample-level router of the restoration experts (SPEC S3, MoE-I).

One image in, one distribution over ``K`` experts out. The router reads the
bottleneck vector ``global_vec`` that the restorer's global pass already
computed and cached, so routing costs no second backbone pass
(``input='global'``). For ablation A it can instead read the image alone
(``input='local'``): either a fixed vector of image statistics
(:func:`image_statistics`, ``arch='mlp'``) or a tiny convolutional network
on a downsampled copy of the image (``arch='conv'``).

It is trained by utility distillation
(:class:`~featsel.models.losses.SoftLabelKLLoss`) and calibrated afterwards
(:mod:`featsel.evaluation.calibration`): ``p = softmax(logits / T)``.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn

from ...registry import ROUTERS
from ...utils import ConfigError
from ..base import BaseRouter, Example

#: length of the vector :func:`image_statistics` returns
NUM_IMAGE_STATS = 14
_DARK_PATCH = 7  # pixels of the dark-channel min filter (on the small copy)
_EPS = 1e-6


def _downsample(image: Tensor, size: int) -> Tensor:
    """Area-average an image to ``(B, C, size, size)``."""
    return F.adaptive_avg_pool2d(image, size)


def image_statistics(image: Tensor, size: int = 64) -> Tensor:
    r"""Per-image statistics that describe the degradation, from the image
    alone (the input of the local router of ablation A).

    The image is first area-averaged to ``size x size``; ``Y`` is the
    channel mean, ``g_x, g_y`` its forward differences along width and
    height, ``J_{ab} = \mathrm{mean}(g_a g_b)`` the averaged structure
    tensor, and ``r = Y - \mathrm{box}_{3 \times 3}(Y)`` its high-frequency
    residual. The 14 values are:

    ===========  ==========================================================
    0-2          channel means ``mean(x_c)``
    3-5          channel standard deviations ``std(x_c)`` (contrast)
    6            mean saturation ``mean(max_c x - min_c x)``
    7-8          mean and std of the dark channel
                 ``D = minpool_{7x7}(min_c x)`` (haze: high ``D``)
    9-10         gradient energy ``sqrt(J_xx)``, ``sqrt(J_yy)``
    11           orientation coherence
                 ``sqrt((J_xx - J_yy)^2 + 4 J_xy^2) / (J_xx + J_yy)``
                 (rain streaks: one dominant direction, near 1)
    12           high-frequency energy ``sqrt(mean(r^2))``
    13           residual skewness ``mean(r^3) / mean(r^2)^{3/2}``
                 (snow: small bright flakes, positive)
    ===========  ==========================================================

    Args:
        image (Tensor): ``(B, 3, H, W)`` RGB in [0, 1].
        size (int): Side of the downsampled copy. Defaults to 64.

    Returns:
        Tensor: ``(B, 14)``.
    """
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f'image must be (B, 3, H, W), got '
                         f'{tuple(image.shape)}')
    x = _downsample(image.float(), size)
    flat = x.flatten(2)
    mean, std = flat.mean(-1), flat.std(-1, unbiased=False)
    saturation = (x.amax(1) - x.amin(1)).flatten(1).mean(-1, keepdim=True)
    pad = _DARK_PATCH // 2
    dark = -F.max_pool2d(-x.amin(1, keepdim=True), _DARK_PATCH, stride=1,
                         padding=pad).flatten(1)
    lum = x.mean(1, keepdim=True)
    gx = (lum[..., :, 1:] - lum[..., :, :-1])[..., :-1, :]
    gy = (lum[..., 1:, :] - lum[..., :-1, :])[..., :, :-1]
    jxx = (gx * gx).flatten(1).mean(-1)
    jyy = (gy * gy).flatten(1).mean(-1)
    jxy = (gx * gy).flatten(1).mean(-1)
    coherence = ((jxx - jyy)**2 + 4 * jxy**2).sqrt() / (jxx + jyy + _EPS)
    box = F.avg_pool2d(F.pad(lum, (1, 1, 1, 1), mode='replicate'), 3,
                       stride=1)
    r = (lum - box).flatten(1)
    r2 = (r * r).mean(-1)
    skew = (r**3).mean(-1) / (r2 + _EPS)**1.5
    return torch.cat([
        mean, std, saturation,
        torch.stack([dark.mean(-1), dark.std(-1, unbiased=False),
                     jxx.sqrt(), jyy.sqrt(), coherence, r2.sqrt(), skew], 1)
    ], 1)


class _TinyConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions on a downsampled image, then global
    average pooling: ``(B, 3, H, W) -> (B, channels[-1])``."""

    def __init__(self, channels: Sequence[int], size: int,
                 act_cfg: dict) -> None:
        super().__init__()
        self.size = size
        layers, prev = [], 3
        for c in channels:
            layers += [nn.Conv2d(prev, c, 3, stride=2, padding=1),
                       build_activation_layer(dict(act_cfg))]
            prev = c
        self.body = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.body(_downsample(image, self.size)).mean((2, 3))


@ROUTERS.register_module()
class UtilityRouter(BaseRouter):
    r"""Per-image router over ``K`` restoration experts.

    .. math::

        z = \mathrm{MLP}(\mathrm{LN}(f)), \qquad p = \mathrm{softmax}(z / T)

    where the feature ``f`` is

    * ``input='global'``: the cached bottleneck vector ``global_vec``
      ``(B, D)`` of the restorer (no image is read);
    * ``input='local'``, ``arch='mlp'``: the 14 image statistics of
      :func:`image_statistics` (no global vector is read);
    * ``input='local'``, ``arch='conv'``: a tiny CNN (stride-2 3x3
      convolutions with ``conv_channels``, global average pooling) on the
      image area-averaged to ``image_size``.

    The MLP has ``num_layers`` hidden layers of width ``hidden_dims``
    (``Linear -> activation -> dropout``) and a linear output to ``K``
    logits. ``forward`` returns logits; :meth:`predict_proba` applies the
    calibrated temperature ``T``. The router reads only the input its
    ``input`` names and ignores the other, so a caller can always pass
    both.

    Args:
        num_experts (int): ``K``. Defaults to 3 (dehaze, derain, desnow).
        in_dims (int, optional): ``D`` of ``global_vec``; required for
            ``input='global'``, unused for ``'local'``.
        input (str): ``'global'`` or ``'local'``. Defaults to ``'global'``.
        arch (str): ``'mlp'`` or ``'conv'`` (``'conv'`` needs
            ``input='local'``: a vector has no image grid). Defaults to
            ``'mlp'``.
        hidden_dims (int): Width of the hidden layers. Defaults to 256.
        num_layers (int): Hidden layers of the MLP, ``>= 0``. Defaults
            to 2.
        dropout (float): Dropout after each hidden layer. Defaults to 0.
        image_size (int): Side of the downsampled image of the local
            router. Defaults to 64.
        conv_channels (Sequence[int]): Channels of the tiny CNN
            (``arch='conv'``). Defaults to (16, 32, 64).
        act_cfg (dict): Activation. Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(num_experts=3, in_dims=16, hidden_dims=32),
                      run=lambda m: m(torch.randn(4, 16)))

    def __init__(self,
                 num_experts: int = 3,
                 in_dims: Optional[int] = None,
                 input: str = 'global',
                 arch: str = 'mlp',
                 hidden_dims: int = 256,
                 num_layers: int = 2,
                 dropout: float = 0.0,
                 image_size: int = 64,
                 conv_channels: Sequence[int] = (16, 32, 64),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_experts < 2:
            raise ConfigError(f'num_experts must be >= 2, got {num_experts}')
        if input not in ('global', 'local'):
            raise ConfigError(f"input must be 'global' or 'local', got "
                              f'{input!r}')
        if arch not in ('mlp', 'conv'):
            raise ConfigError(f"arch must be 'mlp' or 'conv', got {arch!r}")
        if arch == 'conv' and input == 'global':
            raise ConfigError("arch='conv' needs input='local': global_vec "
                              'is a vector, not an image')
        if input == 'global' and (in_dims is None or in_dims < 1):
            raise ConfigError('in_dims (the width D of global_vec) must be '
                              f"a positive int for input='global', got "
                              f'{in_dims}')
        if hidden_dims < 1 or num_layers < 0:
            raise ConfigError(f'hidden_dims must be >= 1 and num_layers >= '
                              f'0, got {hidden_dims} and {num_layers}')
        if not 0 <= dropout < 1:
            raise ConfigError(f'dropout must lie in [0, 1), got {dropout}')
        if image_size < 8:
            raise ConfigError(f'image_size must be >= 8, got {image_size}')
        self.num_experts = num_experts
        self.input = input
        self.arch = arch
        self.image_size = image_size
        self.in_dims = in_dims
        self.conv = None
        if input == 'global':
            feat_dims = in_dims
        elif arch == 'conv':
            if not conv_channels:
                raise ConfigError('conv_channels must name at least one '
                                  'layer')
            self.conv = _TinyConvEncoder(conv_channels, image_size, act_cfg)
            feat_dims = conv_channels[-1]
        else:
            feat_dims = NUM_IMAGE_STATS
        layers = [nn.LayerNorm(feat_dims)]
        prev = feat_dims
        for _ in range(num_layers):
            layers += [nn.Linear(prev, hidden_dims),
                       build_activation_layer(dict(act_cfg)),
                       nn.Dropout(dropout)]
            prev = hidden_dims
        layers.append(nn.Linear(prev, num_experts))
        self.mlp = nn.Sequential(*layers)

    def features(self, global_vec: Optional[Tensor] = None,
                 image: Optional[Tensor] = None) -> Tensor:
        """The feature ``f`` the MLP reads: ``(B, D)``, ``(B, 14)`` or
        ``(B, conv_channels[-1])`` (see the class docstring)."""
        if self.input == 'global':
            if global_vec is None:
                raise ValueError("a router with input='global' needs "
                                 'global_vec (B, D)')
            if global_vec.dim() != 2 or global_vec.shape[1] != self.in_dims:
                raise ValueError(f'global_vec must be (B, {self.in_dims}), '
                                 f'got {tuple(global_vec.shape)}')
            return global_vec
        if image is None:
            raise ValueError("a router with input='local' needs the image "
                             '(B, 3, H, W)')
        if self.conv is not None:
            if image.dim() != 4 or image.shape[1] != 3:
                raise ValueError(f'image must be (B, 3, H, W), got '
                                 f'{tuple(image.shape)}')
            return self.conv(image)
        return image_statistics(image, self.image_size)

    def forward(self, global_vec: Optional[Tensor] = None,
                image: Optional[Tensor] = None) -> Tensor:
        """Router logits.

        Args:
            global_vec (Tensor, optional): ``(B, D)`` cached bottleneck
                vector (read when ``input='global'``).
            image (Tensor, optional): ``(B, 3, H, W)`` RGB in [0, 1] (read
                when ``input='local'``).

        Returns:
            Tensor: ``(B, K)`` logits.
        """
        feats = self.features(global_vec, image)
        return self.mlp(feats.to(self.mlp[0].weight.dtype))

    @staticmethod
    def predict_proba(logits: Tensor, temperature: float = 1.0) -> Tensor:
        """Calibrated probabilities ``softmax(logits / T)``.

        Args:
            logits (Tensor): ``(B, K)``.
            temperature (float): ``T > 0`` from the calibration JSON.
                Defaults to 1.

        Returns:
            Tensor: ``(B, K)``, rows sum to one.
        """
        if not temperature > 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        dtype = torch.promote_types(logits.dtype, torch.float32)
        return (logits.to(dtype) / temperature).softmax(-1)
