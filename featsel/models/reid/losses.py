"""Identity classification loss of the re-identification heads."""
import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import LOSSES
from ...utils import ConfigError
from ..base import BaseLoss, Example


def _run_example(module: 'LabelSmoothingCrossEntropyLoss') -> Tensor:
    logits = torch.randn(4, 5)
    return module(logits, torch.tensor([0, 1, 2, 4]))


@LOSSES.register_module()
class LabelSmoothingCrossEntropyLoss(BaseLoss):
    """Cross-entropy against a smoothed one-hot target.

    ``q = (1 - eps) * onehot(y) + eps / K``,
    ``loss = loss_weight * mean_i(-sum_k q_ik * log softmax(z_i)_k)``
    (the identity loss of BoT / DeMo, ``eps = 0.1``).

    Args:
        label_smoothing (float): ``eps`` in [0, 1). Defaults to 0.1.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
    """

    example = Example(dict(label_smoothing=0.1), _run_example)

    def __init__(self, label_smoothing: float = 0.1,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError('label_smoothing must lie in [0, 1), got '
                              f'{label_smoothing}')
        self.label_smoothing = label_smoothing
        self.loss_weight = loss_weight

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Args: logits (B, K); labels (B,) int64 in [0, K). Returns: ()."""
        return self.loss_weight * F.cross_entropy(
            logits, labels, label_smoothing=self.label_smoothing)
