# E3 low-rank experts with a weak prior: per scale, four experts shared by the
# tasks (local texture, larger structure, smooth regions, identity), mixed per
# pixel by a spatial gate per task (SPEC S1, scheme 2).
_base_ = ['baseline_multitask.py']

model = dict(
    selector=dict(
        type='LowRankExpertSelector',
        experts=[
            dict(type='DWConvExpert', kernel_size=3),
            dict(type='DWConvExpert', kernel_size=3, dilation=2),
            dict(type='DWConvExpert', kernel_size=5),
            dict(type='IdentityExpert'),
        ],
        gating=dict(type='ConvGating'),
        residual=False,
        detach_gate_input=True))
