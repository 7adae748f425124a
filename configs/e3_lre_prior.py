# E3_LREPrior: depthwise experts with a weak prior. Per scale, four experts
# shared by the tasks (local texture, larger structure, smooth regions,
# identity), mixed per pixel by a spatial gate per task (SPEC S1, scheme 2);
# a balance term keeps every expert used, an orthogonality term keeps the
# experts different.
# the baseline's pieces, not baseline_multitask.py itself, so the configs
# that build on this one stay within two _base_ levels
_base_ = [
    '_base_/models/multitask_unet.py', '_base_/datasets/demo_lesions.py',
    '_base_/schedules/schedule_demo.py', '_base_/default_runtime.py'
]

model = dict(
    selector=dict(
        type='DepthwiseExpertSelector',
        experts=[
            dict(type='DWConvExpert', kernel_size=3),
            dict(type='DWConvExpert', kernel_size=3, dilation=2),
            dict(type='DWConvExpert', kernel_size=5),
            dict(type='IdentityExpert'),
        ],
        gating=dict(type='ConvGating'),
        residual=False,
        detach_gate_input=True,
        orth_loss=dict(type='ExpertOrthogonalityLoss', loss_weight=1e-3),
        gate_losses=[dict(type='GateBalanceLoss', loss_weight=1e-3)]))
