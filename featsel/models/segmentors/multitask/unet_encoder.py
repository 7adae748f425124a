"""The encoder half of a UNet, built from mmseg's UNet blocks."""
from typing import List, Optional, Sequence

from mmengine.model import BaseModule
from mmseg.models.backbones.unet import BasicConvBlock
from torch import Tensor, nn

from ....registry import MODELS
from ....utils import ConfigError


@MODELS.register_module()
class UNetEncoder(BaseModule):
    """Five-scale UNet encoder that returns every scale.

    mmseg's ``UNet`` returns decoder outputs only; multi-task models need the
    encoder features themselves, so this module keeps mmseg's encoder blocks
    (``BasicConvBlock`` after a 2x2 max-pool) and drops the decoder.

    Stage ``i`` (0-based) outputs ``f_{i+1}`` of shape
    ``(B, base_channels * 2**i, H / 2**i, W / 2**i)``.

    Args:
        in_channels (int): Input image channels. Defaults to 3.
        base_channels (int): Channels of the first stage. Defaults to 64.
        num_stages (int): Number of scales. Defaults to 5.
        num_convs (int): Convs per stage. Defaults to 2.
        with_cp (bool): Activation checkpointing. Defaults to False.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='ReLU')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 num_stages: int = 5,
                 num_convs: int = 2,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[dict] = [
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(type='Constant', val=1, layer=['_BatchNorm'])
                 ]) -> None:
        super().__init__(init_cfg=init_cfg)
        self.out_channels: List[int] = [
            base_channels * 2**i for i in range(num_stages)]
        self.stages = nn.ModuleList()
        for i, out_ch in enumerate(self.out_channels):
            block = BasicConvBlock(
                in_channels=(in_channels
                             if i == 0 else self.out_channels[i - 1]),
                out_channels=out_ch,
                num_convs=num_convs,
                with_cp=with_cp,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)
            self.stages.append(
                block if i == 0 else nn.Sequential(nn.MaxPool2d(2), block))

    @property
    def size_divisor(self) -> int:
        """Input sides must be multiples of this."""
        return 2**(len(self.stages) - 1)

    def forward(self, x: Tensor) -> List[Tensor]:
        """Args: x (Tensor): (B, C_in, H, W). Returns: list of ``f_i``."""
        h, w = x.shape[-2:]
        if h % self.size_divisor or w % self.size_divisor:
            raise ConfigError(
                f'UNetEncoder input {h}x{w} is not a multiple of '
                f'{self.size_divisor}; set data_preprocessor.pad_size_divisor '
                f'to {self.size_divisor}')
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def check_in_channels(name: str, given: Optional[Sequence[int]],
                      expected: Sequence[int]) -> List[int]:
    """Return ``expected`` after checking a user-given channel list.

    Args:
        name (str): Config key, used in the error message.
        given (Sequence[int], optional): Channels written in the config, or
            None to take the encoder's.
        expected (Sequence[int]): The encoder's output channels.
    """
    if given is not None and list(given) != list(expected):
        raise ConfigError(
            f'{name}={list(given)} does not match the encoder output '
            f'channels {list(expected)}; remove the key or make them equal')
    return list(expected)
