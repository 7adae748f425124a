from .expert_losses import ExpertOrthogonalityLoss
from .gate_regularizers import (GateBalanceLoss, GateSharpnessLoss,
                                ScaleSmoothnessLoss, entropy)
from .task_weighting import FixedTaskWeights, UncertaintyWeightedLoss

__all__ = [
    'ExpertOrthogonalityLoss', 'GateBalanceLoss', 'GateSharpnessLoss',
    'ScaleSmoothnessLoss', 'entropy', 'FixedTaskWeights',
    'UncertaintyWeightedLoss'
]
