# A short epoch-based schedule for the demo ReID set on a CPU: the tiny ViT
# trains from scratch, so every part gets the full learning rate.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0),
    paramwise_cfg=dict(bias_lr_mult=2.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=20,
         T_max=18, eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
