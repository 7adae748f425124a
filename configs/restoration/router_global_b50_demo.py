# MoE-I router on the cached global vector, soft labels at beta = 50
# (seed 002 §3.2: beta in {20, 50, 80}, chosen by validation:
# tools/analysis_tools/calibrate_router.py takes the three runs and keeps
# the one with the smallest oracle gap on the held-out scenes).
_base_ = [
    '../_base_/models/router_global.py',
    '../_base_/datasets/router_labels_demo.py',
    '../_base_/schedules/router_demo.py',
    '../_base_/restoration_runtime.py'
]
train_dataloader = dict(dataset=dict(beta=50.))
val_dataloader = dict(dataset=dict(beta=50.))
test_dataloader = dict(dataset=dict(beta=50.))
