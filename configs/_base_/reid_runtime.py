# Runtime of the ReID configs: featsel's scope, epoch-based logging,
# evaluation reports, plug-in diagnostics and the ReID pictures.
default_scope = 'featsel'
custom_imports = dict(imports=['featsel'], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='mAP', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # kept-token maps per modality and a retrieval panel after each
    # evaluation (tools/test.py --show-dir DIR draws every test batch)
    visualization=dict(type='ReIDVisualizationHook'),
)
custom_hooks = [
    dict(type='EvalReportHook'),
    # the selectors' records (kept-token ratio, score terms) at the
    # logger's interval; models without selectors are skipped
    dict(type='PluginHook', interval=10),
    # a loaded checkpoint must fit the model (--non-strict to relax);
    # a non-finite loss stops training before a checkpoint is written;
    # checkpoints carry the random state, so a resume is exact
    dict(type='CheckpointCheckHook'),
    dict(type='NonFiniteGuardHook'),
    dict(type='RandomStateHook'),
]

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends,
                  name='visualizer')
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
