# DSET-R50 on DAIR-V2X-C (both camera sides, 10 classes), RT-DETR's
# schedule. Needs the converted data under data/DAIR-V2X/ and a local
# ResNet-50-vd checkpoint, e.g. --cfg-options
#   model.backbone.init_cfg.checkpoint=checkpoints/resnet50_vd.pth
_base_ = [
    '../_base_/models/dset_r50.py', '../_base_/datasets/dair_v2x_detection.py',
    '../_base_/schedules/detection_72e.py', '../_base_/det_runtime.py'
]
model = dict(
    backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/resnet50_vd.pth')),
    bbox_head=dict(num_classes=10))
custom_hooks = [
    dict(type='featsel.EvalReportHook'),
    dict(type='featsel.TokenPruningScheduleHook', interval=50),
    dict(type='featsel.MoEUsageHook', interval=50, warn_share=0.5),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001,
         update_buffers=True, priority=49),
]
default_hooks = dict(logger=dict(interval=50))
