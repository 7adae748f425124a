"""Varifocal classification loss with IoU targets for DETR heads.

Imported by :mod:`featsel.det` (it registers into mmdet's registry).
"""
from typing import Optional, Tuple, Union

import torch.nn.functional as F
from mmdet.models.losses import QualityFocalLoss
from mmdet.models.losses.varifocal_loss import varifocal_loss
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class IoUVarifocalLoss(QualityFocalLoss):
    """Varifocal loss whose positive target is the IoU of the matched box.

    With ``t = IoU * onehot(label)`` and ``p = sigmoid(logit)``::

        loss = BCE(logit, t) * (t + alpha * p**gamma * [t == 0])

    summed and divided by ``avg_factor`` (the number of matched boxes), as
    RT-DETR's ``loss_labels_vfl``. mmdet's DETR heads compute the IoU
    target (``(labels, scores)``) for any subclass of ``QualityFocalLoss``,
    so the heads, matching and denoising parts are reused unchanged.

    Args:
        alpha (float): Weight of the negatives. Defaults to 0.75.
        gamma (float): Focusing exponent of the negatives. Defaults to 2.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``.
        loss_weight (float): Weight of the loss. Defaults to 1.
    """

    def __init__(self,
                 alpha: float = 0.75,
                 gamma: float = 2.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(use_sigmoid=True, reduction=reduction,
                         loss_weight=loss_weight)
        self.alpha = alpha
        self.gamma = gamma

    def forward(self,
                pred: Tensor,
                target: Union[Tuple[Tensor, Tensor], Tensor],
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Args:
            pred (Tensor): Logits ``(N, C)``.
            target (tuple[Tensor] | Tensor): ``(labels (N,), iou (N,))``
                with label ``C`` for background, or a soft one-hot ``(N, C)``.
            weight (Tensor, optional): Per-prediction weight ``(N,)``.
            avg_factor (float, optional): Normaliser of the sum.
        """
        reduction = reduction_override or self.reduction
        if isinstance(target, (tuple, list)):
            labels, iou = target
            num_classes = pred.size(1)
            onehot = F.one_hot(labels, num_classes + 1)[:, :num_classes]
            target = onehot.to(pred) * iou.to(pred)[:, None]
        if weight is not None and weight.dim() == 1:
            weight = weight[:, None]
        return self.loss_weight * varifocal_loss(
            pred, target.detach(), weight, alpha=self.alpha,
            gamma=self.gamma, iou_weighted=True, reduction=reduction,
            avg_factor=avg_factor)
