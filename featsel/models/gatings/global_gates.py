"""Per-image gates over K experts from pooled features (SPEC S1, E2/E3).

Both gates see ``GAP(x)``, the channel means of one scale, and return one
weight per image and expert, shared by all channels and pixels:
``alpha`` of shape (B, K, 1, 1).
"""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ...registry import GATINGS
from ..base import Example
from .base_softmax_gating import SoftmaxGating


def _mlp(in_features: int, hidden_channels: int,
         out_features: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, hidden_channels), nn.ReLU(inplace=True),
        nn.Linear(hidden_channels, out_features))


@GATINGS.register_module()
class MLPGating(SoftmaxGating):
    """``alpha = softmax_K(MLP(GAP(x)))``, shape (B, K, 1, 1).

    The ``mlp`` gating mode: the MLP is ``Linear(C, h) -> ReLU ->
    Linear(h, K)``.

    Args:
        num_experts (int): Number of experts ``K``.
        channels (int): Input channels ``C``.
        hidden_channels (int): MLP width ``h``. Defaults to 32.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(args=dict(num_experts=4, channels=8),
                      run=lambda m: m(torch.randn(2, 8, 6, 6)))

    def __init__(self,
                 num_experts: int,
                 channels: int,
                 hidden_channels: int = 32,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = _mlp(channels, hidden_channels, num_experts)

    def logits(self, x: Tensor) -> Tensor:
        """Args: x: (B, C, H, W). Returns: (B, K, 1, 1)."""
        return self.mlp(x.mean((2, 3)))[..., None, None]


@GATINGS.register_module()
class TaskEmbeddingMLPGating(SoftmaxGating):
    """One MLP for all tasks, told the task by a learned embedding.

    ``alpha^t = softmax_K(MLP([GAP(x), e_t]))``, shape (B, K, 1, 1), where
    ``e_t`` is a learned vector of ``embed_dims`` per task and the MLP is
    ``Linear(C + E, h) -> ReLU -> Linear(h, K)``. The ``mlp_task_emb``
    gating mode: the tasks share the MLP's parameters and differ only by
    their embedding. The embeddings start from N(0, 1), so the tasks' gates
    differ from the first step.

    Args:
        num_experts (int): Number of experts ``K``.
        channels (int): Input channels ``C``.
        tasks (Sequence[str]): Task names, one embedding each.
        embed_dims (int): Embedding length ``E``. Defaults to 16.
        hidden_channels (int): MLP width ``h``. Defaults to 32.
        init_cfg (dict, optional): Initialisation config.
    """

    example = Example(
        args=dict(num_experts=4, channels=8, tasks=['seg', 'sdf']),
        run=lambda m: m(torch.randn(2, 8, 6, 6), task='sdf'))

    task_conditioned = True

    def __init__(self,
                 num_experts: int,
                 channels: int,
                 tasks: Sequence[str],
                 embed_dims: int = 16,
                 hidden_channels: int = 32,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(tasks, str) or not tasks:
            raise ValueError(f'tasks must be a non-empty list of task '
                             f'names, got {tasks!r}')
        self.tasks = list(tasks)
        self._index = {task: i for i, task in enumerate(self.tasks)}
        self.task_embed = nn.Embedding(len(self.tasks), embed_dims)
        self.mlp = _mlp(channels + embed_dims, hidden_channels, num_experts)

    def logits(self, x: Tensor, task: str) -> Tensor:
        """Args: x: (B, C, H, W); task: a name given at build time.

        Returns:
            Tensor: (B, K, 1, 1).
        """
        if task not in self._index:
            raise KeyError(f'{type(self).__name__} has no embedding for task '
                           f'"{task}"; it was built for tasks '
                           f'{", ".join(self.tasks)}')
        pooled = x.mean((2, 3))
        embed = self.task_embed.weight[self._index[task]]
        embed = embed.to(pooled.dtype).expand(pooled.shape[0], -1)
        return self.mlp(torch.cat([pooled, embed], dim=1))[..., None, None]

    def forward(self, x: Tensor, task: str) -> Tensor:
        """Returns ``alpha^t`` (B, K, 1, 1) with ``alpha.sum(1) == 1``."""
        return self.logits(x, task).softmax(dim=1)
