"""BNNeck head: batch-norm neck, bias-free identity classifier, losses."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ...utils import ConfigError

# classifier N(0, 0.001), BN weight 1 and shift 0 (as in the BNNeck paper)
_BNNECK_INIT = [dict(type='Normal', layer='Linear', std=0.001),
                dict(type='Constant', layer='BatchNorm1d', val=1.0, bias=0.0)]


@MODELS.register_module()
class BNNeckHead(BaseModule):
    """The BNNeck of "Bag of Tricks" (Luo et al., 2019) for one feature.

    ``f_bn = BN(f)`` (the BN shift is frozen at zero),
    ``logits = W f_bn`` (no bias); the triplet loss acts on ``f`` and the
    identity loss on ``logits``:
    ``loss_id = CE_eps(logits, y)``, ``loss_triplet = mean_i
    max(0, m + max_{p: y_p = y_i} d(f_i, f_p) - min_{n: y_n != y_i}
    d(f_i, f_n))`` (batch-hard, Euclidean ``d``), each with the
    ``loss_weight`` of its config.

    Args:
        in_channels (int): Width ``D`` of the feature.
        num_classes (int): Training identities ``K``.
        loss_cls (dict): Identity loss on the logits. Defaults to
            ``LabelSmoothingCrossEntropyLoss`` (eps 0.1, weight 1).
        loss_triplet (dict, optional): Metric loss on the features before
            the neck; None trains with the identity loss alone. Defaults to
            mmdet's batch-hard ``TripletLoss`` (margin 0.3, weight 1).
        init_cfg (dict | list[dict], optional): None gives the BNNeck
            initialisation: classifier ``N(0, 0.001)``, BN weight 1.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: Optional[int],
                 loss_cls: dict = dict(
                     type='LabelSmoothingCrossEntropyLoss',
                     label_smoothing=0.1, loss_weight=1.0),
                 loss_triplet: Optional[dict] = dict(
                     type='mmdet.TripletLoss', margin=0.3, loss_weight=1.0),
                 init_cfg: Optional[Union[dict, List[dict]]] = None
                 ) -> None:
        super().__init__(init_cfg=init_cfg or [dict(c) for c in _BNNECK_INIT])
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError('model.num_classes must be the number of '
                              f'training identities (>= 1), got {num_classes}'
                              ' (set it in the experiment config)')
        self.num_classes = num_classes
        self.bn = nn.BatchNorm1d(in_channels)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(in_channels, num_classes, bias=False)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_triplet = (MODELS.build(loss_triplet)
                             if loss_triplet is not None else None)

    def forward(self, feats: Tensor) -> Tensor:
        """The neck feature. Args: feats (B, D). Returns: (B, D)."""
        return self.bn(feats)

    def loss(self, feats: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """Identity and triplet losses of one batch.

        Args:
            feats (Tensor): (B, D) features before the neck.
            labels (Tensor): (B,) identities in ``[0, num_classes)``.

        Returns:
            dict[str, Tensor]: ``loss_id``, ``loss_triplet`` (when
            configured) and ``acc`` (identity accuracy in percent, not a
            loss).
        """
        if int(labels.max()) >= self.num_classes or int(labels.min()) < 0:
            raise ConfigError(
                f'a training label is {int(labels.max())} but '
                f'model.num_classes is {self.num_classes}: set it to the '
                'number of training identities of the data set')
        logits = self.classifier(self.bn(feats))
        losses = dict(loss_id=self.loss_cls(logits, labels))
        if self.loss_triplet is not None:
            if labels.unique().numel() < 2:
                raise ConfigError(
                    'a training batch holds one identity only; the triplet '
                    'loss needs several (train_dataloader.sampler = '
                    'IdentityBalancedSampler, batch_size = P x K, P >= 2)')
            losses['loss_triplet'] = self.loss_triplet(feats, labels)
        with torch.no_grad():
            losses['acc'] = (logits.argmax(1) == labels).float().mean() * 100
        return losses
