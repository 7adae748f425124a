# RT-DETR's optimisation for a pretrained backbone (SPEC S4): AdamW 1e-4,
# backbone 1e-5, no weight decay on norms, 72 epochs with linear warm-up
# over 2000 iterations, gradient clipping at 10, EMA of the weights.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0, norm_type=2),
    paramwise_cfg=dict(
        custom_keys={'backbone': dict(lr_mult=0.1)},
        norm_decay_mult=0.0,
        bypass_duplicate=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=2000),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=72, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=16)
