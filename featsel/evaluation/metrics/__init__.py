from .multitask_seg_metric import MultiTaskSegMetric

__all__ = ['MultiTaskSegMetric']
