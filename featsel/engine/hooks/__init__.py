from .eval_report_hook import EvalReportHook, read_eval_results
from .gate_diagnostics_hook import (GateDiagnosticsHook, collect_gate_records,
                                    gate_statistics, unwrap_model)
from .gate_map_hook import (GateMapVisualizationHook, draw_gate_maps,
                            group_by_task)
from .moe_usage_hook import MoEUsageHook
from .token_pruning_hook import (TokenPruningScheduleHook,
                                 find_scheduled_pruners)
from .visualization_hook import MultiTaskVisualizationHook

__all__ = [
    'EvalReportHook', 'GateDiagnosticsHook', 'GateMapVisualizationHook',
    'MoEUsageHook', 'MultiTaskVisualizationHook', 'TokenPruningScheduleHook',
    'collect_gate_records', 'find_scheduled_pruners', 'draw_gate_maps',
    'gate_statistics', 'group_by_task', 'read_eval_results', 'unwrap_model'
]
