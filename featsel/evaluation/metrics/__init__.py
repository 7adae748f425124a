from .multitask_seg_metric import MultiTaskSegMetric
from .reid_metric import MultiModalReIDMetric
from .restoration_metric import RestorationMetric

__all__ = ['MultiTaskSegMetric', 'MultiModalReIDMetric',
           'RestorationMetric']
