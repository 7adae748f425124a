# E4_HybridHigh: TaskDW on f1-f4, depthwise experts (E3's weak prior) on f5
# (SPEC S1). One selector class; the per-scale plan picks each scale's
# block.
# the baseline's pieces, not baseline_multitask.py itself, so the configs
# that build on this one stay within two _base_ levels
_base_ = [
    '_base_/models/multitask_unet.py', '_base_/datasets/demo_lesions.py',
    '_base_/schedules/schedule_demo.py', '_base_/default_runtime.py'
]

model = dict(
    selector=dict(
        type='MultiScaleTaskSelector',
        plan=['task_dw'] * 4 + ['dw_experts'],
        task_dw=dict(kernel_size=3, weight='channel', detach_input=True),
        dw_experts=dict(
            experts=[
                dict(type='DWConvExpert', kernel_size=3),
                dict(type='DWConvExpert', kernel_size=3, dilation=2),
                dict(type='DWConvExpert', kernel_size=5),
                dict(type='IdentityExpert'),
            ],
            gating=dict(type='ConvGating'),
            detach_gate_input=True,
            orth_loss=dict(type='ExpertOrthogonalityLoss', loss_weight=1e-3),
            gate_losses=[dict(type='GateBalanceLoss', loss_weight=1e-3)])))
