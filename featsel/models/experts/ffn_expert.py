"""Two-layer feed-forward expert of token mixture-of-experts (SPEC S4)."""
from typing import Optional

import torch
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn

from ...registry import EXPERTS
from ..base import BaseExpert, Example


@EXPERTS.register_module()
class FFNExpert(BaseExpert):
    """``e(x) = W_2 drop(act(W_1 x + b_1)) + b_2`` on tokens.

    Active FLOPs per token are ``4 d h`` (two ``d x h`` matrix products), so
    a token that visits k experts of width ``h = dim_ff / k`` costs what one
    dense FFN of width ``dim_ff`` costs.

    Args:
        embed_dims (int): Token width ``d`` (in = out).
        hidden_dims (int): Hidden width ``h``.
        act_cfg (dict): Activation config for
            :func:`mmcv.cnn.build_activation_layer` (``ReLU``, ``GELU``,
            ``SiLU``, ...). Defaults to ``dict(type='GELU')``.
        dropout (float): Dropout after the activation. Defaults to 0.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(embed_dims=16, hidden_dims=32),
                      run=lambda m: m(torch.randn(10, 16)))

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int,
                 act_cfg: dict = dict(type='GELU'),
                 dropout: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims < 1 or hidden_dims < 1:
            raise ValueError('embed_dims and hidden_dims must be >= 1, got '
                             f'{embed_dims} and {hidden_dims}')
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout must lie in [0, 1), got {dropout}')
        self.embed_dims = embed_dims
        self.hidden_dims = hidden_dims
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.act = build_activation_layer(dict(act_cfg))
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x (Tensor): (N, d). Returns: (N, d)."""
        return self.fc2(self.drop(self.act(self.fc1(x))))
