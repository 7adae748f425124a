# Dense-unified baseline on the demo set (SPEC S3): one global-local
# backbone without adapters, trained on haze, rain and snow mixed, each
# sample with its task's loss recipe. The experts (expert_*_demo.py) start
# from its checkpoint; `make demo-restoration` runs the whole chain.
_base_ = [
    '../_base_/models/restorer_glr_tiny.py',
    '../_base_/datasets/demo_restoration.py',
    '../_base_/schedules/restoration_dense_demo.py',
    '../_base_/restoration_runtime.py'
]
val_evaluator = dict(run_info=dict(model='Dense-Unified'))
test_evaluator = dict(run_info=dict(model='Dense-Unified'))
