# Desnow expert on the demo set (SPEC S3): the dense-unified model with one
# bottleneck adapter per decoder block for "desnow" (1.65 % of the
# backbone's parameters), fine-tuned on the snow pairs only, starting from
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
    adapter_tasks=['desnow'])
train_dataloader = dict(dataset=dict(degradations=['snow']))
val_dataloader = dict(dataset=dict(degradations=['snow']))
test_dataloader = dict(dataset=dict(degradations=['snow']))
val_evaluator = dict(run_info=dict(model='Expert-desnow'))
test_evaluator = dict(run_info=dict(model='Expert-desnow'))
load_from = 'work_dirs/dense_unified_demo/iter_800.pth'
