# A short epoch-based schedule for the demo ReID set on a CPU (18
# iterations per epoch): the tiny ViT trains from scratch, so every part
# gets the full learning rate; one warm-up epoch, cosine decay to 40 epochs
# (at 16 epochs mAP is still rising steeply and the seeds disagree).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=40,
         T_max=39, eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=40, val_interval=8)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
