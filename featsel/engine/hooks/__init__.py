from .eval_report_hook import EvalReportHook
from .gate_diagnostics_hook import (GateDiagnosticsHook, collect_gate_records,
                                    gate_statistics, unwrap_model)
from .gate_map_hook import (GateMapVisualizationHook, draw_gate_maps,
                            group_by_task)
from .visualization_hook import MultiTaskVisualizationHook

__all__ = [
    'EvalReportHook', 'GateDiagnosticsHook', 'GateMapVisualizationHook',
    'MultiTaskVisualizationHook', 'collect_gate_records', 'draw_gate_maps',
    'gate_statistics', 'group_by_task', 'unwrap_model'
]
