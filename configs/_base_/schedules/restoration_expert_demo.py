# Expert fine-tuning on one task of the demo set (SPEC S3), from the
# dense-unified checkpoint (the experiment's load_from). Stage 1 freezes the
# lower 2/3 of the backbone's nine layer groups (encoder, bottleneck and
# the two coarsest decoder levels) and trains the task's adapters and the
# top (two finest decoder levels and the head); from `unfreeze_iter` the
# two coarsest decoder levels train too, at 0.1 x the learning rate
# (paramwise lr_mult below; ProgressiveUnfreezeHook checks that they
# match). The encoder and bottleneck stay those of the dense model, so
# every expert shares its "global" pass. Optimiser, EMA and demo-size
# changes as restoration_dense_demo.py; crops continue at 96 -> 128.
max_iters = 300
warmup_iters = 20
unfreeze_iter = 200
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.99),
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
         end=max_iters, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='EMAHook', momentum=0.01, update_buffers=True, priority=49),
    dict(type='ProgressiveUnfreezeHook', frozen_fraction=2 / 3,
         unfreeze_iter=unfreeze_iter, unfreeze_groups=2,
         unfreeze_lr_mult=0.1),
    dict(type='PatchCurriculumHook', crop_sizes=[96, 128],
         milestones=[unfreeze_iter]),
    dict(type='EvalReportHook'),
    # the dense checkpoint has no adapters: they may be missing and start
    # as the identity; every other weight must fit (and all on a resume)
    dict(type='CheckpointCheckHook', allow_missing=['backbone.adapters.*']),
    dict(type='NonFiniteGuardHook'),
    dict(type='RandomStateHook'),
]
