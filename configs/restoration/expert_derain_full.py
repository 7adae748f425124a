# Derain expert at full size (SPEC S3): the dense-unified model of
# dense_unified_full.py with one bottleneck adapter per decoder block for
# "derain" (r = 1/2: 1.57 % of the backbone; r = 1/16 would add 0.24 %),
# fine-tuned on the rain pairs from the dense checkpoint (override
# load_from for another one).
_base_ = [
    '../_base_/models/restorer_glr_small.py',
    '../_base_/datasets/restoration_meta.py',
    '../_base_/schedules/restoration_expert_140k.py',
    '../_base_/restoration_runtime.py'
]
model = dict(
    adapter=dict(type='BottleneckAdapter', ratio=1 / 2),
    adapter_tasks=['derain'])
train_dataloader = dict(dataset=dict(degradations=['rain']))
val_dataloader = dict(dataset=dict(degradations=['rain']))
test_dataloader = dict(dataset=dict(degradations=['rain']))
val_evaluator = dict(run_info=dict(model='Expert-derain'))
test_evaluator = dict(run_info=dict(model='Expert-derain'))
load_from = 'work_dirs/dense_unified_full/iter_300000.pth'
