# Runtime of the detection configs: mmdet's scope, featsel's parts imported.
default_scope = 'mmdet'
custom_imports = dict(imports=['featsel.det'], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='coco/bbox_mAP', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'),
)
custom_hooks = [
    dict(type='featsel.EvalReportHook'),
    # keep ratio of the token pruner, set before every iteration (no-op
    # without one)
    dict(type='featsel.TokenPruningScheduleHook', interval=20),
    # expert shares per MoE layer; warns when one takes > 50 % of the slots
    dict(type='featsel.MoEUsageHook', interval=20, warn_share=0.5),
    # a loaded checkpoint must fit the model (--non-strict to relax);
    # a non-finite loss stops training before a checkpoint is written;
    # checkpoints carry the random state, so a resume is exact
    dict(type='featsel.CheckpointCheckHook'),
    dict(type='featsel.NonFiniteGuardHook'),
    dict(type='featsel.RandomStateHook'),
]

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends,
                  name='visualizer')
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
