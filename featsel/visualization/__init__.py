from .gate_maps import display_image, draw_gate_maps, group_by_task
from .multitask_visualizer import MultiTaskSegVisualizer, draw_label
from .moe_i_plots import (coverage_accuracy_figure, misrouting_figure,
                          pareto_figure, reliability_figure, save_figure,
                          severity_gains_figure)
from .reid import draw_retrieval, draw_token_selection

__all__ = [
    'MultiTaskSegVisualizer', 'display_image', 'draw_gate_maps',
    'draw_label', 'draw_retrieval', 'draw_token_selection', 'group_by_task',
    'coverage_accuracy_figure', 'misrouting_figure', 'pareto_figure',
    'reliability_figure', 'save_figure', 'severity_gains_figure'
]
