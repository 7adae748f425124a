from .functional import boundary_scores, dice, iou, mean_absolute_error
from .metrics import MultiTaskSegMetric

__all__ = [
    'MultiTaskSegMetric', 'boundary_scores', 'dice', 'iou',
    'mean_absolute_error'
]
