# Router training (seed 002 §3.2: AdamW, weight decay 1e-4, 30-50 epochs),
# sized for the demo: 50 epochs of ~8 batches at 10x the seed's learning
# rate 1e-4 (a small MLP from scratch on ~125 labelled images), cosine
# decay. A validation every 10 epochs (checkpoints and logging by epoch:
# the experiment configs, as they override the runtime's).
max_epochs = 50
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='EvalReportHook'),
    dict(type='CheckpointCheckHook'),
    dict(type='NonFiniteGuardHook'),
    dict(type='RandomStateHook'),
]
