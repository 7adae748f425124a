"""Softmax gating: mixing weights that sum to one over the expert axis."""
from torch import Tensor

from ..base import BaseGating


class SoftmaxGating(BaseGating):
    """Base of every gate whose weights are ``softmax_k(logits)``.

    Subclasses implement :meth:`logits`, returning ``(B, K, ...)``;
    ``forward`` normalises over ``K`` (dim 1).

    A gate with ``task_conditioned = True`` is built with ``tasks=[...]``,
    serves all of them and is called as ``forward(x, task)``; a plain gate
    (``False``) serves one task and is called as ``forward(x)``.
    """

    task_conditioned = False

    def logits(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Returns ``alpha`` (B, K, ...) with ``alpha.sum(1) == 1``."""
        return self.logits(x).softmax(dim=1)
