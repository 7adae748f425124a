from .multitask_segmentor import MultiTaskSegmentor
from .task_spec import TASK_KINDS, TaskSpec

__all__ = ['MultiTaskSegmentor', 'TASK_KINDS', 'TaskSpec']
