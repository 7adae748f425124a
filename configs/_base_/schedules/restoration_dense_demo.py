# Dense-unified training on the demo set, sized for two CPU cores: the SPEC
# S3 recipe (AdamW, betas (0.9, 0.99), weight decay 1e-4, linear warm-up
# then cosine, gradient clipping at 1.0, EMA of the weights) in 800
# iterations of 8 crops, at 5x the recipe's 2e-4 learning rate (a model
# trained from scratch in minutes) and an EMA decay of 0.99 instead of
# 0.999 (an average over ~100 of the 800 steps, not ~1000). Crops grow
# 64 -> 96 -> 128 (the demo images' size). One evaluation and one
# checkpoint at the end.
max_iters = 800
warmup_iters = 50
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.99),
                   weight_decay=1e-4),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters,
         end=max_iters, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    # EMA decay 1 - momentum; validation, test and checkpoints use the
    # averaged weights
    dict(type='EMAHook', momentum=0.01, update_buffers=True, priority=49),
    dict(type='PatchCurriculumHook', crop_sizes=[64, 96, 128],
         milestones=[400, 650]),
    dict(type='EvalReportHook'),
    # a loaded checkpoint must fit the model (--non-strict to relax); a
    # non-finite loss stops training before a checkpoint is written;
    # checkpoints carry the random state, so a resume is exact
    dict(type='CheckpointCheckHook'),
    dict(type='NonFiniteGuardHook'),
    dict(type='RandomStateHook'),
]
