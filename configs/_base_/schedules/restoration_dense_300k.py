# Dense-unified training at full size (SPEC S3): AdamW (lr 2e-4, betas
# (0.9, 0.99), weight decay 1e-4), 1.5k iterations of linear warm-up then
# cosine decay over 300k iterations, gradient clipping at 1.0, EMA of the
# weights with decay 0.999; crops grow 256 -> 384 -> 512. Evaluation every
# 10k iterations. bf16 on a GPU: tools/train.py CONFIG --amp --cfg-options
# optim_wrapper.dtype=bfloat16.
max_iters = 300000
warmup_iters = 1500
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.99),
                   weight_decay=1e-4),
    clip_grad=dict(max_norm=1.0))
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
    # EMA decay 0.999 = 1 - momentum; validation, test and checkpoints use
    # the averaged weights
    dict(type='EMAHook', momentum=0.001, update_buffers=True, priority=49),
    dict(type='PatchCurriculumHook', crop_sizes=[256, 384, 512],
         milestones=[120000, 240000]),
    dict(type='EvalReportHook'),
    dict(type='CheckpointCheckHook'),
    dict(type='NonFiniteGuardHook'),
    dict(type='RandomStateHook'),
]
