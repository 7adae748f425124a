from .expert_losses import ExpertOrthogonalityLoss
from .gate_regularizers import (GateBalanceLoss, GateSharpnessLoss,
                                ScaleSmoothnessLoss, SpatialSmoothnessLoss,
                                entropy)
from .moe_losses import router_z_loss, switch_balance_loss
from .restoration_losses import (CharbonnierLoss, LPIPSLoss, PixelL1Loss,
                                 RainDirectionLoss, SnowMaskWeightedLoss,
                                 SobelEdgeLoss, SSIMLoss)
from .task_weighting import FixedTaskWeights, UncertaintyWeightedLoss
from .utility_distillation import SoftLabelKLLoss, soft_utility_labels

__all__ = [
    'ExpertOrthogonalityLoss', 'GateBalanceLoss', 'GateSharpnessLoss',
    'ScaleSmoothnessLoss', 'SpatialSmoothnessLoss', 'entropy',
    'FixedTaskWeights',
    'UncertaintyWeightedLoss', 'router_z_loss', 'switch_balance_loss',
    'CharbonnierLoss', 'LPIPSLoss', 'PixelL1Loss', 'RainDirectionLoss',
    'SnowMaskWeightedLoss', 'SobelEdgeLoss', 'SSIMLoss',
    'SoftLabelKLLoss', 'soft_utility_labels'
]
