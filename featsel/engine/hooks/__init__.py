from .checkpoint_guards import (CheckpointCheckHook, NonFiniteGuardHook,
                                RandomStateHook)
from .eval_report_hook import EvalReportHook, read_eval_results
from .gate_diagnostics_hook import (GateDiagnosticsHook, collect_gate_records,
                                    gate_statistics, unwrap_model)
from .gate_map_hook import (GateMapVisualizationHook, draw_gate_maps,
                            group_by_task)
from .moe_usage_hook import MoEUsageHook, moe_layers
from .patch_curriculum_hook import PatchCurriculumHook, find_crop_datasets
from .plugin_hook import PluginHook, training_progress
from .plugin_monitors import (GateMonitor, ScheduleMonitor, UsageMonitor,
                              record_names)
from .progressive_unfreeze_hook import ProgressiveUnfreezeHook, layer_groups
from .reid_visualization_hook import ReIDVisualizationHook
from .token_pruning_hook import (TokenPruningScheduleHook,
                                 find_scheduled_pruners)
from .visualization_hook import MultiTaskVisualizationHook

__all__ = [
    'CheckpointCheckHook', 'EvalReportHook', 'GateDiagnosticsHook',
    'GateMapVisualizationHook',
    'MoEUsageHook', 'MultiTaskVisualizationHook', 'NonFiniteGuardHook',
    'RandomStateHook', 'TokenPruningScheduleHook', 'PluginHook',
    'ReIDVisualizationHook',
    'PatchCurriculumHook', 'ProgressiveUnfreezeHook', 'find_crop_datasets',
    'layer_groups',
    'GateMonitor', 'ScheduleMonitor', 'UsageMonitor', 'moe_layers',
    'record_names', 'training_progress',
    'collect_gate_records', 'find_scheduled_pruners', 'draw_gate_maps',
    'gate_statistics', 'group_by_task', 'read_eval_results', 'unwrap_model'
]
