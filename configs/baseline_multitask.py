# Plain multi-decoder baseline: shared UNet encoder, no feature selection,
# one UNet decoder per task (SPEC S1, y^t = D^t({f_i})).
_base_ = [
    '_base_/models/multitask_unet.py', '_base_/datasets/demo_lesions.py',
    '_base_/schedules/schedule_demo.py', '_base_/default_runtime.py'
]
