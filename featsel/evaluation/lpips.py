"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric"), AlexNet variant v0.1, from local weight
files only.

No weights ship with featsel and none are downloaded. Two files are read:

* the AlexNet feature extractor, as a torchvision ``alexnet`` state dict
  (keys ``features.0.weight`` ... ``features.10.bias``; the
  ``classifier.*`` keys of a full ImageNet checkpoint are ignored), e.g.
  torchvision's ``alexnet-owt-7be5be79.pth`` from the torch hub cache;
* the linear heads of LPIPS v0.1, ``weights/v0.1/alex.pth`` of the
  ``lpips`` package (keys ``lin0.model.1.weight`` ... ``lin4.model.1.weight``,
  each ``(1, C_k, 1, 1)``).

Loading is strict: a missing or unexpected key, or a shape that differs,
is an error naming the file and the key.

Distance of images ``x, y`` in [0, 1]: both are mapped to [-1, 1] and
normalised per channel, ``(2x - 1 - shift) / scale`` with ``shift = (-0.030,
-0.088, -0.188)``, ``scale = (0.458, 0.448, 0.450)``; AlexNet gives the
activations ``f^k`` after the ReLUs of its five conv layers (64, 192, 384,
256, 256 channels); each is unit-normalised over channels at every
position, ``f / (||f||_2 + 1e-10)``; then::

    LPIPS(x, y) = sum_k mean_{h,w} sum_c w^k_c (f^k_c(x) - f^k_c(y))^2

with the non-negative head weights ``w^k``. ``LPIPS(x, x) = 0``.
"""
import os.path as osp
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from featsel.utils import ConfigError

#: (in, out, kernel, stride, padding) of AlexNet's conv layers, and the
#: index of each in torchvision's ``features`` Sequential
_ALEXNET_CONVS = ((0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2),
                  (6, 192, 384, 3, 1, 1), (8, 384, 256, 3, 1, 1),
                  (10, 256, 256, 3, 1, 1))
#: the ReLUs whose outputs LPIPS compares
_TAPS = (1, 4, 7, 9, 11)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10


class AlexNetFeatures(nn.Module):
    """AlexNet's convolutional part, keys as torchvision's ``features``.

    ``forward(x)`` returns the five ReLU outputs LPIPS compares:
    ``(B, 64, H/4, W/4)``, ``(B, 192, ...)``, ``(B, 384, ...)``,
    ``(B, 256, ...)``, ``(B, 256, ...)`` (sizes as the strides and 3x3/2
    max pools give).
    """

    def __init__(self) -> None:
        super().__init__()
        layers: Dict[str, nn.Module] = {}
        for index, cin, cout, kernel, stride, padding in _ALEXNET_CONVS:
            layers[str(index)] = nn.Conv2d(cin, cout, kernel, stride,
                                           padding)
            layers[str(index + 1)] = nn.ReLU(inplace=False)
        for index in (2, 5, 12):
            layers[str(index)] = nn.MaxPool2d(kernel_size=3, stride=2)
        self.features = nn.Sequential(
            *[layers[str(i)] for i in range(13)])

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        taps = []
        # the last max pool (index 12) feeds only the classifier
        for index, layer in enumerate(self.features[:12]):
            x = layer(x)
            if index in _TAPS:
                taps.append(x)
        return tuple(taps)


def _read_state_dict(path: str, what: str) -> Dict[str, Tensor]:
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'LPIPS needs the {what} weights, and "{path}" does not exist; '
            'featsel downloads nothing, so place the file there (see '
            'docs/components/restoration_metrics.md#lpips)')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state, dict):
        raise ConfigError(f'"{path}" holds a {type(state).__name__}, not a '
                          f'state dict of {what} weights')
    return state


def _load_strict(module: nn.Module, state: Dict[str, Tensor], path: str,
                 ignore_prefix: Optional[str] = None) -> None:
    """Copy ``state`` into ``module``; every key must match in name and
    shape (keys under ``ignore_prefix`` are skipped)."""
    own = module.state_dict()
    given = {k: v for k, v in state.items()
             if not (ignore_prefix and k.startswith(ignore_prefix))}
    missing = sorted(set(own) - set(given))
    unexpected = sorted(set(given) - set(own))
    if missing or unexpected:
        raise ConfigError(f'"{path}" does not fit {type(module).__name__}: '
                          f'missing keys {missing}, unexpected keys '
                          f'{unexpected}')
    for key, value in given.items():
        if value.shape != own[key].shape:
            raise ConfigError(f'"{path}": {key} has shape '
                              f'{tuple(value.shape)}, expected '
                              f'{tuple(own[key].shape)}')
    module.load_state_dict(given, strict=True)


class LPIPSHeads(nn.Module):
    """The five linear heads; keys ``lin<k>.model.1.weight`` as the lpips
    package's weight files (``model.0`` there is a dropout)."""

    def __init__(self) -> None:
        super().__init__()
        for k, conv in enumerate(_ALEXNET_CONVS):
            cout = conv[2]
            head = nn.Module()
            head.model = nn.Sequential(nn.Identity(),
                                       nn.Conv2d(cout, 1, 1, bias=False))
            self.add_module(f'lin{k}', head)

    def forward(self, k: int, x: Tensor) -> Tensor:
        return getattr(self, f'lin{k}').model(x)


class LPIPS(nn.Module):
    """LPIPS distance, AlexNet v0.1 (see the module docstring).

    Build it from files with :meth:`from_files`; a plain ``LPIPS()`` holds
    random weights. Parameters are frozen and the module stays in eval
    mode; gradients flow to the inputs.

    ``forward(x, y)``: ``x, y (Tensor)``: ``(B, 3, H, W)`` RGB in [0, 1]
    (H, W >= 32). Returns ``(B,)`` distances.
    """

    def __init__(self) -> None:
        super().__init__()
        self.net = AlexNetFeatures()
        self.lin = LPIPSHeads()
        self.register_buffer('shift', torch.tensor(_SHIFT).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('scale', torch.tensor(_SCALE).view(1, 3, 1, 1),
                             persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_files(cls, alexnet_path: str, lin_path: str) -> 'LPIPS':
        """LPIPS with AlexNet weights from ``alexnet_path`` and the v0.1
        heads from ``lin_path`` (both loaded strictly).

        Raises:
            FileNotFoundError: Naming the missing file.
            ConfigError: Naming the file and the keys that do not fit.
        """
        model = cls()
        _load_strict(model.net, _read_state_dict(alexnet_path, 'AlexNet'),
                     alexnet_path, ignore_prefix='classifier.')
        _load_strict(model.lin, _read_state_dict(lin_path, 'LPIPS head'),
                     lin_path)
        return model

    def train(self, mode: bool = True) -> 'LPIPS':
        """Always eval mode: LPIPS is a fixed measurement."""
        return super().train(False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError('LPIPS takes two (B, 3, H, W) images of one '
                             f'shape, got {tuple(x.shape)} and '
                             f'{tuple(y.shape)}')
        dtype = self.shift.dtype
        feats_x = self.net((2 * x.to(dtype) - 1 - self.shift) / self.scale)
        feats_y = self.net((2 * y.to(dtype) - 1 - self.shift) / self.scale)
        total = x.new_zeros(x.shape[0], dtype=dtype)
        for k, (fx, fy) in enumerate(zip(feats_x, feats_y)):
            fx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + _EPS)
            fy = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + _EPS)
            total = total + self.lin(k, (fx - fy).pow(2)).mean((1, 2, 3))
        return total


def write_random_lpips_weights(folder: str,
                               seed: int = 0) -> Tuple[str, str]:
    """Write randomly initialised AlexNet and head weights in the layout of
    the real files, for tests and examples (the distances mean nothing).

    Args:
        folder (str): Existing folder to write ``alexnet.pth`` and
            ``alex_lin.pth`` into.
        seed (int): Seed of the initialisation.

    Returns:
        tuple[str, str]: ``(alexnet_path, lin_path)``.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LPIPS()
        for head in model.lin.children():  # the real heads are >= 0
            head.model[1].weight.abs_()
    alexnet_path = osp.join(folder, 'alexnet.pth')
    lin_path = osp.join(folder, 'alex_lin.pth')
    torch.save(model.net.state_dict(), alexnet_path)
    torch.save(model.lin.state_dict(), lin_path)
    return alexnet_path, lin_path
