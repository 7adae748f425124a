from .gate_maps import display_image, draw_gate_maps, group_by_task
from .multitask_visualizer import MultiTaskSegVisualizer, draw_label

__all__ = [
    'MultiTaskSegVisualizer', 'display_image', 'draw_gate_maps',
    'draw_label', 'group_by_task'
]
