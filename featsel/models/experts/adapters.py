r"""Per-task adapters of the restoration backbone (SPEC S3).

An adapter belongs to one task and one *site* of a backbone (a block). It
wraps the block: ``adapter(x, block)`` returns the block's output
``h = block(x)`` adapted for its task, with the shape of ``h``. Every
adapter is the identity at initialisation (``adapter(x, block) ==
block(x)`` exactly), so adding one to a trained backbone leaves its output
unchanged until the adapter is trained. Without a block (``block=None``)
the adapter acts on ``x`` itself (``h = x``).

* :class:`BottleneckAdapter`: :math:`h + \tanh(g) \odot W_{up} *
  \sigma(D_{3\times3} * (W_{dn} * h))`, ``g = 0`` at init;
  :math:`2Cm + 10m + 2C` parameters per site of ``C`` channels;
* :class:`ConvLoRA`: :math:`\mathrm{block}(x) + \frac{\alpha}{r} B * (A * x)`,
  ``B = 0`` at init; :math:`k^2 C r + r C` parameters;
* :class:`FiLM`: :math:`h \odot (1 + \gamma) + \beta`, ``γ = β = 0`` at
  init; :math:`2C` parameters.

(:math:`m` is the bottleneck width, :math:`r` the LoRA rank, :math:`k` its
kernel size.) Each class says how far beyond its block's own dependence it
looks, in pixels of its site's grid (:attr:`BaseAdapter.receptive_radius`),
so a backbone can size the halos of crop-wise and tile-wise processing.
"""
from typing import Callable, Optional

import torch
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn

from ...registry import EXPERTS
from ..base import BaseExpert, Example

Block = Callable[[Tensor], Tensor]


def _conv_block(channels: int) -> nn.Module:
    """A 3x3 conv standing in for a backbone block in the examples."""
    return nn.Conv2d(channels, channels, 3, padding=1)


class BaseAdapter(BaseExpert):
    """One task's adapter at one site; the identity at initialisation.

    Contract: ``forward(x, block=None) -> Tensor`` with ``x`` (B, C, H, W)
    the block's input and the output shaped like ``block(x)``; ``block`` is
    any callable (a module, or a module with its extra arguments bound).

    ``init_weights`` re-applies the identity initialisation after a parent's
    ``init_cfg`` has run, so a model-wide ``Kaiming`` initialisation does not
    turn an added adapter into noise.

    A spatial (k > 1) conv inside an adapter must see zeros where the
    adapter's input is zero (no bias before it): a backbone that encodes
    crops with masked halos relies on that to match a whole-image pass.

    Args:
        channels (int): Channels ``C`` of the site.
        init_cfg (dict, optional): Initialisation config.
    """

    #: pixels of the site's grid the adapter reaches beyond its block
    receptive_radius: int = 0

    def __init__(self, channels: int, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if channels < 1:
            raise ValueError(f'channels must be >= 1, got {channels}')
        self.channels = channels

    @staticmethod
    def run_block(x: Tensor, block: Optional[Block]) -> Tensor:
        """``block(x)``, or ``x`` without a block."""
        return x if block is None else block(x)

    def reset_identity(self) -> None:
        """Set the parameters that make the adapter the identity."""
        raise NotImplementedError

    def init_weights(self) -> None:
        super().init_weights()
        self.reset_identity()


@EXPERTS.register_module()
class BottleneckAdapter(BaseAdapter):
    r"""Bottleneck adapter with a zero-initialised channel gate.

    .. math::

        a(x) = h + \tanh(g) \odot W_{up} * \sigma\big(D_{3\times3} *
               (W_{dn} * h)\big), \qquad h = \mathrm{block}(x)

    :math:`W_{dn}`: 1x1 conv ``C -> m``; :math:`D_{3\times3}`: depthwise 3x3
    conv on ``m`` channels; :math:`\sigma`: the activation;
    :math:`W_{up}`: 1x1 conv ``m -> C``; :math:`g \in \mathbb{R}^C`, zero at
    initialisation, so :math:`\tanh(g) = 0` and the adapter starts as the
    identity (its branch gets gradient through ``g`` first). :math:`W_{dn}`
    has no bias (the depthwise conv's bias takes its place), so zeros
    outside an image stay zeros for the depthwise conv, as masked crop-wise
    encoding needs (:class:`BaseAdapter`).

    Width :math:`m = \min(C, \max(m_{min}, \mathrm{round}(rC)))`: the ratio
    :math:`r` (1/16 by default, 1/32 as the ablation) sets it on wide
    layers; ``min_hidden_channels`` keeps narrow layers from a one-channel
    bottleneck. Parameters: :math:`2Cm + 10m + 2C` (biases included).

    Args:
        channels (int): Channels ``C`` of the site.
        ratio (float): Bottleneck ratio ``r`` in (0, 1]. Defaults to 1/16.
        min_hidden_channels (int): Smallest width ``m_min``. Defaults to 8.
        act_cfg (dict): Activation config. Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Initialisation config.
    """

    receptive_radius = 1
    example = Example(args=dict(channels=16, ratio=1 / 16),
                      run=lambda m: m(torch.randn(2, 16, 6, 6),
                                      _conv_block(16)))

    def __init__(self,
                 channels: int,
                 ratio: float = 1 / 16,
                 min_hidden_channels: int = 8,
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(channels, init_cfg=init_cfg)
        if not 0 < ratio <= 1:
            raise ValueError(f'ratio must lie in (0, 1], got {ratio}')
        if min_hidden_channels < 1:
            raise ValueError('min_hidden_channels must be >= 1, got '
                             f'{min_hidden_channels}')
        self.ratio = ratio
        self.hidden_channels = min(
            channels, max(min_hidden_channels, round(ratio * channels)))
        m = self.hidden_channels
        self.down = nn.Conv2d(channels, m, 1, bias=False)
        self.dw = nn.Conv2d(m, m, 3, padding=1, groups=m)
        self.act = build_activation_layer(dict(act_cfg))
        self.up = nn.Conv2d(m, channels, 1)
        self.gate = nn.Parameter(torch.zeros(channels))

    def reset_identity(self) -> None:
        nn.init.zeros_(self.gate)

    def forward(self, x: Tensor, block: Optional[Block] = None) -> Tensor:
        """Args: x (Tensor): (B, C, H, W). Returns: (B, C, H, W)."""
        h = self.run_block(x, block)
        branch = self.up(self.act(self.dw(self.down(h))))
        return h + torch.tanh(self.gate).view(1, -1, 1, 1) * branch


@EXPERTS.register_module()
class ConvLoRA(BaseAdapter):
    r"""Low-rank convolution added beside the block it wraps (LoRA for
    convolutions).

    .. math::

        a(x) = \mathrm{block}(x) + \frac{\alpha}{r}\, B * (A * x)

    :math:`A`: ``k x k`` conv ``C -> r`` (PyTorch's default initialisation);
    :math:`B`: 1x1 conv ``r -> C``, zero at initialisation, so the adapter
    starts as the identity and, at the first step, only :math:`B` gets a
    gradient. When the block is a single ``k x k`` conv ``W`` this is LoRA:
    the effective kernel is ``W + (α/r) B A``. No biases; parameters
    :math:`k^2 C r + r C`.

    Args:
        channels (int): Channels ``C`` of the site (block input = output).
        rank (int): Rank ``r``, 4-8 in the recipe. Defaults to 4.
        kernel_size (int): Kernel size ``k`` of ``A`` (odd). Defaults to 3.
        alpha (float): Scale numerator ``α``; the update is scaled by
            ``α / r``. Defaults to 4.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(channels=16, rank=4),
                      run=lambda m: m(torch.randn(2, 16, 6, 6),
                                      _conv_block(16)))

    def __init__(self,
                 channels: int,
                 rank: int = 4,
                 kernel_size: int = 3,
                 alpha: float = 4.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(channels, init_cfg=init_cfg)
        if rank < 1:
            raise ValueError(f'rank must be >= 1, got {rank}')
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.rank = rank
        self.scale = alpha / rank
        self.receptive_radius = kernel_size // 2
        self.lora_a = nn.Conv2d(channels, rank, kernel_size,
                                padding=kernel_size // 2, bias=False)
        self.lora_b = nn.Conv2d(rank, channels, 1, bias=False)
        self.reset_identity()

    def reset_identity(self) -> None:
        nn.init.zeros_(self.lora_b.weight)

    def forward(self, x: Tensor, block: Optional[Block] = None) -> Tensor:
        """Args: x (Tensor): (B, C, H, W). Returns: (B, C, H, W)."""
        return self.run_block(x, block) + self.scale * self.lora_b(
            self.lora_a(x))


@EXPERTS.register_module()
class FiLM(BaseAdapter):
    r"""Feature-wise affine modulation by the task.

    .. math::

        a(x) = h \odot (1 + \gamma) + \beta, \qquad h = \mathrm{block}(x)

    with per-channel :math:`\gamma, \beta \in \mathbb{R}^C` of the adapter's
    task, zero at initialisation (identity). Parameters: :math:`2C`.

    Args:
        channels (int): Channels ``C`` of the site.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(channels=16),
                      run=lambda m: m(torch.randn(2, 16, 6, 6),
                                      _conv_block(16)))

    def __init__(self, channels: int, init_cfg: Optional[dict] = None) -> None:
        super().__init__(channels, init_cfg=init_cfg)
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def reset_identity(self) -> None:
        nn.init.zeros_(self.gamma)
        nn.init.zeros_(self.beta)

    def forward(self, x: Tensor, block: Optional[Block] = None) -> Tensor:
        """Args: x (Tensor): (B, C, H, W). Returns: (B, C, H, W)."""
        h = self.run_block(x, block)
        return h * (1 + self.gamma.view(1, -1, 1, 1)) + self.beta.view(
            1, -1, 1, 1)
