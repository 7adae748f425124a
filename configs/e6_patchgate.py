# E6 PatchGate: every scale projected to 16 channels at f2's size (half the
# input's) and mixed per task by a softmax gate over the 5 scales (SPEC S1,
# scheme 3); the segmentor upsamples the head's logits to the input size.
# The two gate regularisers agree: sharpness (each pixel picks its scales)
# and spatial smoothness (neighbouring pixels pick alike) are both minimised
# by piecewise-constant one-hot gates.
# the baseline's pieces, not baseline_multitask.py itself, so the configs
# that build on this one stay within two _base_ levels
_base_ = [
    '_base_/models/multitask_unet.py', '_base_/datasets/demo_lesions.py',
    '_base_/schedules/schedule_demo.py', '_base_/default_runtime.py'
]

model = dict(
    decoder=dict(
        _delete_=True,  # a different decoder, not a tweak of the UNet one
        type='PatchGateDecoder',
        channels=16,
        gate=dict(type='ChannelDWScaleGate', kernel_size=3),
        # f2: a quarter of f1's memory, and a better demo Dice than f1
        # (0.875 vs 0.848 after the 400 demo iterations)
        fusion_level=1,
        refine=False,  # the FCNHead below already starts with a 3x3 conv
        detach_gate_input=True,
        gate_losses=[
            dict(type='GateSharpnessLoss', loss_weight=1e-3),
            dict(type='SpatialSmoothnessLoss', loss_weight=1e-3),
        ]),
    head=dict(channels=16))
