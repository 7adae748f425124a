"""Per-task UNet decoders built from mmseg's ``UpConvBlock``."""
from typing import Dict, List, Optional, Sequence

from mmseg.models.backbones.unet import BasicConvBlock
from mmseg.models.utils import UpConvBlock
from torch import Tensor, nn

from ....registry import MODELS
from .base_task_decoder import BaseTaskDecoder


class UNetDecoderStack(nn.Module):
    """The decoder half of mmseg's UNet for one task.

    Going from the deepest scale up, each ``UpConvBlock`` upsamples, concats
    the skip feature and convolves: ``x <- Up_i(f_i, x)``.

    Args:
        in_channels (Sequence[int]): Encoder channels ``C_1..C_S``.
        num_convs (int): Convs per block.
        norm_cfg (dict): Norm layer config.
        act_cfg (dict): Activation config.
        upsample_cfg (dict): Upsampling layer config.
        with_cp (bool): Activation checkpointing.
    """

    def __init__(self, in_channels: Sequence[int], num_convs: int,
                 norm_cfg: dict, act_cfg: dict, upsample_cfg: dict,
                 with_cp: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            UpConvBlock(
                conv_block=BasicConvBlock,
                in_channels=in_channels[i],
                skip_channels=in_channels[i - 1],
                out_channels=in_channels[i - 1],
                num_convs=num_convs,
                with_cp=with_cp,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                upsample_cfg=upsample_cfg)
            for i in range(1, len(in_channels)))

    def forward(self, feats: List[Tensor]) -> Tensor:
        """Args: feats: ``f_i`` (B, C_i, H/2^(i-1), W/2^(i-1)).

        Returns:
            Tensor: (B, C_1, H, W).
        """
        x = feats[-1]
        for i in reversed(range(len(self.blocks))):
            x = self.blocks[i](feats[i], x)
        return x


@MODELS.register_module()
class PerTaskUNetDecoder(BaseTaskDecoder):
    """One UNet decoder per task, same structure, parameters not shared.

    ``y^t = D^t({f_i^t})``; the baseline decoder of SPEC S1.

    Args:
        tasks (Sequence[str]): Task names.
        in_channels (Sequence[int]): Encoder channels ``C_1..C_S``.
        num_convs (int): Convs per up block. Defaults to 2.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='ReLU')``.
        upsample_cfg (dict): Upsampling layer. Defaults to mmseg's
            ``InterpConv`` (bilinear upsampling then a 1x1 conv).
        with_cp (bool): Activation checkpointing. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 in_channels: Sequence[int],
                 num_convs: int = 2,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 upsample_cfg: dict = dict(type='mmseg.InterpConv'),
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = [
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(type='Constant', val=1, layer=['_BatchNorm'])
                 ]) -> None:
        super().__init__(tasks, in_channels, init_cfg=init_cfg)
        self.out_channels = self.in_channels[0]
        self.decoders = nn.ModuleDict({
            task: UNetDecoderStack(self.in_channels, num_convs, norm_cfg,
                                   act_cfg, upsample_cfg, with_cp)
            for task in self.tasks
        })

    def forward(self,
                task_feats: Dict[str, List[Tensor]]) -> Dict[str, Tensor]:
        """Decode each task's features with its own decoder."""
        return {task: self.decoders[task](task_feats[task])
                for task in self.tasks}
