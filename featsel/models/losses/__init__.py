from .expert_losses import ExpertOrthogonalityLoss
from .gate_regularizers import (GateBalanceLoss, GateSharpnessLoss,
                                ScaleSmoothnessLoss, SpatialSmoothnessLoss,
                                entropy)
from .moe_losses import router_z_loss, switch_balance_loss
from .task_weighting import FixedTaskWeights, UncertaintyWeightedLoss

__all__ = [
    'ExpertOrthogonalityLoss', 'GateBalanceLoss', 'GateSharpnessLoss',
    'ScaleSmoothnessLoss', 'SpatialSmoothnessLoss', 'entropy',
    'FixedTaskWeights',
    'UncertaintyWeightedLoss', 'router_z_loss', 'switch_balance_loss'
]
