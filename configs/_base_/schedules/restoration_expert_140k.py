# Expert fine-tuning at full size (SPEC S3), from the dense-unified
# checkpoint: 100k iterations with the lower 2/3 of the backbone's layer
# groups frozen (adapters and top groups train), then 40k more with the two
# coarsest decoder levels unfrozen at 0.1 x the learning rate (paramwise
# lr_mult, checked by ProgressiveUnfreezeHook). Optimiser, warm-up, cosine,
# clipping and EMA as restoration_dense_300k.py; crops 256 -> 384 -> 512.
max_iters = 140000
warmup_iters = 1500
unfreeze_iter = 100000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.99),
                   weight_decay=1e-4),
    clip_grad=dict(max_norm=1.0),
    paramwise_cfg=dict(custom_keys={
        'backbone.decoder.0.': dict(lr_mult=0.1),
        'backbone.decoder.1.': dict(lr_mult=0.1),
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters,
         end=max_iters, eta_min=1e-7),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='EMAHook', momentum=0.001, update_buffers=True, priority=49),
    dict(type='ProgressiveUnfreezeHook', frozen_fraction=2 / 3,
         unfreeze_iter=unfreeze_iter, unfreeze_groups=2,
         unfreeze_lr_mult=0.1),
    dict(type='PatchCurriculumHook', crop_sizes=[256, 384, 512],
         milestones=[40000, 100000]),
    dict(type='EvalReportHook'),
    # the dense checkpoint has no adapters: they may be missing and start
    # as the identity; every other weight must fit (and all on a resume)
    dict(type='CheckpointCheckHook', allow_missing=['backbone.adapters.*']),
    dict(type='NonFiniteGuardHook'),
    dict(type='RandomStateHook'),
]
