# DSET-R50 (SPEC S4) on the demo shapes set: token pruning (keep 0.7) +
# encoder Patch-MoE (4 experts top-2) + decoder MoE (6 experts top-3).
_base_ = [
    '../_base_/models/dset_r50.py',
    '../_base_/datasets/demo_shapes_detection.py',
    '../_base_/schedules/detection_demo.py', '../_base_/det_runtime.py'
]
