# A short iteration-based schedule for the demo data on a CPU.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0),
    # the learned task uncertainties are not weights to shrink
    paramwise_cfg=dict(custom_keys={'loss_weighting': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=400,
         eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=400, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
