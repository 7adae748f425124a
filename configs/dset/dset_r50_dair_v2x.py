# DSET-R50 on DAIR-V2X-C (both camera sides, 10 classes), RT-DETR's
# schedule. Needs the converted data under data/DAIR-V2X/ and a local
# ResNet-50-vd checkpoint, e.g. --cfg-options
#   model.backbone.init_cfg.checkpoint=checkpoints/resnet50_vd.pth
_base_ = [
    '../_base_/models/rtdetr_r50.py', '../_base_/models/dset_sparsity.py',
    '../_base_/datasets/dair_v2x_detection.py',
    '../_base_/schedules/detection_72e.py', '../_base_/det_runtime.py'
]
model = dict(
    # Pretrained backbone as RT-DETR: the stem and every BatchNorm frozen
    # (statistics and affine parameters), so 2 images per GPU do not
    # re-estimate them.
    backbone=dict(
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/resnet50_vd.pth')),
    neck=dict(pruner={{_base_.token_pruner}}, moe_cfg={{_base_.encoder_moe}}),
    decoder=dict(moe_cfg={{_base_.decoder_moe}}),
    bbox_head=dict(num_classes=10))
# experts that get no token in a step have no gradient
find_unused_parameters = True
# the base's hooks, with wider log intervals, plus EMA and the switch
custom_hooks = [
    dict(type='featsel.EvalReportHook'),
    dict(type='featsel.TokenPruningScheduleHook', interval=50),
    dict(type='featsel.MoEUsageHook', interval=50, warn_share=0.5),
    dict(type='featsel.CheckpointCheckHook'),
    dict(type='featsel.NonFiniteGuardHook'),
    dict(type='featsel.RandomStateHook'),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001,
         update_buffers=True, priority=49),
    # no mosaic in the last epoch, as RT-DETR (set switch_epoch to
    # max_epochs - 1 when changing the schedule)
    dict(type='PipelineSwitchHook', switch_epoch=71,
         switch_pipeline={{_base_.train_pipeline_stage2}}),
]
default_hooks = dict(logger=dict(interval=50))
