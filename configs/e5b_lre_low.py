# Low-rank experts (E3's weak prior) on f1-f3 only, f4-f5 passed raw (the
# variant SPEC S1 allows next to E4/E5). One selector class; the per-scale
# plan picks each scale's block.
_base_ = ['baseline_multitask.py']

model = dict(
    selector=dict(
        type='MultiScaleTaskSelector',
        plan=['lowrank'] * 3 + ['identity'] * 2,
        lowrank=dict(
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
