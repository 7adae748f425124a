# DSET-R50 (SPEC S4) on the demo shapes set: token pruning (keep 0.7) +
# encoder Patch-MoE (4 experts top-2) + decoder MoE (6 experts top-3).
_base_ = [
    '../_base_/models/rtdetr_r50.py', '../_base_/models/dset_sparsity.py',
    '../_base_/datasets/demo_shapes_detection.py',
    '../_base_/schedules/detection_demo.py', '../_base_/det_runtime.py'
]
model = dict(
    neck=dict(pruner={{_base_.token_pruner}}, moe_cfg={{_base_.encoder_moe}}),
    decoder=dict(moe_cfg={{_base_.decoder_moe}}))
# experts that get no token in a step have no gradient
find_unused_parameters = True
