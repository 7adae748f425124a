# E6 PatchGate: every scale projected to 16 channels at f1's size and mixed
# per task by a softmax gate over the 5 scales (SPEC S1, scheme 3). The two
# gate regularisers agree: sharpness (each pixel picks its scales) and
# spatial smoothness (neighbouring pixels pick alike) are both minimised by
# piecewise-constant one-hot gates.
_base_ = ['baseline_multitask.py']

model = dict(
    decoder=dict(
        _delete_=True,  # a different decoder, not a tweak of the UNet one
        type='PatchGateDecoder',
        channels=16,
        gate=dict(type='ChannelDWScaleGate', kernel_size=3),
        fusion_level=0,
        refine=False,  # the FCNHead below already starts with a 3x3 conv
        detach_gate_input=True,
        gate_losses=[
            dict(type='GateSharpnessLoss', loss_weight=1e-3),
            dict(type='SpatialSmoothnessLoss', loss_weight=1e-3),
        ]),
    head=dict(channels=16))
