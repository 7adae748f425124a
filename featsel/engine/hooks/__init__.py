from .eval_report_hook import EvalReportHook
from .visualization_hook import MultiTaskVisualizationHook

__all__ = ['EvalReportHook', 'MultiTaskVisualizationHook']
