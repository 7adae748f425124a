default_scope = 'featsel'
custom_imports = dict(imports=['featsel'], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100,
                    max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='MultiTaskVisualizationHook', draw=False),
)
custom_hooks = [
    dict(type='EvalReportHook'),
    # gate utilisation / entropy scalars at the logger's interval, so every
    # printed value is fresh; models without gates are skipped
    dict(type='GateDiagnosticsHook', interval=20, collapse_threshold=0.9),
    # gate maps of the first validation images after each evaluation
    dict(type='GateMapVisualizationHook', num_images=2),
    # a loaded checkpoint must fit the model (--non-strict to relax);
    # a non-finite loss stops training before a checkpoint is written;
    # checkpoints carry the random state, so a resume is exact
    dict(type='CheckpointCheckHook'),
    dict(type='NonFiniteGuardHook'),
    dict(type='RandomStateHook'),
]

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='MultiTaskSegVisualizer', vis_backends=vis_backends,
                  name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
