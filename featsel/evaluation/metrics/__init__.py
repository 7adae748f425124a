from .multitask_seg_metric import MultiTaskSegMetric
from .reid_metric import MultiModalReIDMetric
from .restoration_metric import RestorationMetric
from .router_metric import RouterMetric, router_scores

__all__ = ['MultiTaskSegMetric', 'MultiModalReIDMetric',
           'RestorationMetric', 'RouterMetric', 'router_scores']
