# Derain expert on the demo set (SPEC S3): the dense-unified model with one
# bottleneck adapter per decoder block for "derain" (1.65 % of the
# backbone's parameters), fine-tuned on the rain pairs only, starting from
# the dense-unified checkpoint. After a dense run of another length pass
# --cfg-options load_from=work_dirs/dense_unified_demo/iter_<N>.pth.
_base_ = [
    '../_base_/models/restorer_glr_tiny.py',
    '../_base_/datasets/demo_restoration.py',
    '../_base_/schedules/restoration_expert_demo.py',
    '../_base_/restoration_runtime.py'
]
model = dict(
    adapter=dict(type='BottleneckAdapter', ratio=1 / 16,
                 min_hidden_channels=16),
    adapter_tasks=['derain'])
train_dataloader = dict(dataset=dict(degradations=['rain']))
val_dataloader = dict(dataset=dict(degradations=['rain']))
test_dataloader = dict(dataset=dict(degradations=['rain']))
val_evaluator = dict(run_info=dict(model='Expert-derain'))
test_evaluator = dict(run_info=dict(model='Expert-derain'))
load_from = 'work_dirs/dense_unified_demo/iter_800.pth'
