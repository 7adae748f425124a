# E1_TaskDW: per scale and task, a depthwise conv and a sigmoid weight the
# shared features, w_i^t = sigmoid(DWConv_i^t(f_i)), f_i^t = w_i^t * f_i
# (SPEC S1, scheme 1). One weight per pixel and channel.
_base_ = ['baseline_multitask.py']

model = dict(
    selector=dict(
        type='TaskDWSelector',
        kernel_size=3,
        weight='channel',  # 'pixel': one map shared by the channels
        norm_cfg=None,
        detach_input=True,  # the weights' gradient stops at the encoder
        return_weight=False))
