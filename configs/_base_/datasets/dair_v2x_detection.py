# DAIR-V2X-C camera images of both sides, converted to COCO format by
#   python tools/dataset_converters/dairv2x_to_coco.py \
#       data/DAIR-V2X/cooperative-vehicle-infrastructure \
#       --out-dir data/DAIR-V2X/cooperative-vehicle-infrastructure/annotations
# (see docs/user_guides/detection_datasets.md). Training uses mosaic.
dataset_type = 'CocoDataset'
data_root = 'data/DAIR-V2X/cooperative-vehicle-infrastructure/'
classes = ('Car', 'Truck', 'Van', 'Bus', 'Pedestrian', 'Cyclist',
           'Tricyclist', 'Motorcyclist', 'Barrowlist', 'TrafficCone')
metainfo = dict(classes=classes)
img_scale = (640, 640)
backend_args = None

train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,  # per GPU: 8 GPUs x 2 = RT-DETR's batch of 16
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='MultiImageMixDataset',
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            metainfo=metainfo,
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img=''),  # file names are relative to the root
            filter_cfg=dict(filter_empty_gt=False),
            pipeline=[
                dict(type='LoadImageFromFile', backend_args=backend_args),
                dict(type='LoadAnnotations', with_bbox=True),
            ],
            backend_args=backend_args),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
