# E2_LREFree: depthwise experts without a prior (SPEC's "low-rank
# experts"). Per scale, four identical depthwise 3x3 experts shared by the
# tasks, mixed per pixel by a spatial gate per task (SPEC S1, scheme 2). A
# balance term keeps every expert used, an orthogonality term (summed over
# the scales) keeps the experts different.
_base_ = ['baseline_multitask.py']

model = dict(
    selector=dict(
        type='DepthwiseExpertSelector',
        experts=[dict(type='DWConvExpert', kernel_size=3)] * 4,
        gating=dict(type='ConvGating'),
        residual=False,
        detach_gate_input=True,
        orth_loss=dict(type='ExpertOrthogonalityLoss', loss_weight=1e-3),
        gate_losses=[dict(type='GateBalanceLoss', loss_weight=1e-3)]))
