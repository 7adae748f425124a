# E6 with Patcher's gate: one weight per pixel and scale, shared by channels.
_base_ = ['e6_patchgate.py']

model = dict(decoder=dict(gate=dict(_delete_=True, type='PixelScaleGate',
                                    hidden_channels=64)))
