# The DeMo recipe on RGBNT201 (its configs/RGBNT201/DeMo.yml and defaults):
# Adam, base lr 3.5e-4, weight decay 1e-4, bias lr x2, a CLIP backbone at
# lr 5e-6 (lr_mult 5e-6 / 3.5e-4), linear warm-up from 0.1x over 10 epochs,
# cosine to 0.001x by epoch 50, evaluation every epoch.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=1e-4),
    paramwise_cfg=dict(
        bias_lr_mult=2.0,
        custom_keys={
            'backbones': dict(lr_mult=5e-6 / 3.5e-4),
            'projections': dict(lr_mult=5e-6 / 3.5e-4),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=10),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=10, end=50,
         T_max=40, eta_min=3.5e-7),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
