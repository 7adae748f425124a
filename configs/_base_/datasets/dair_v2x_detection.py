# DAIR-V2X-C camera images of both sides, converted to COCO format by
#   python tools/dataset_converters/dairv2x_to_coco.py \
#       data/DAIR-V2X/cooperative-vehicle-infrastructure \
#       --out-dir data/DAIR-V2X/cooperative-vehicle-infrastructure/annotations
# (see docs/user_guides/detection_datasets.md). Training uses mosaic at the
# test-time object scale; the experiment config switches to
# `train_pipeline_stage2` (no mosaic) for the last epoch(s).
# mmdet's CocoDataset whose missing or broken files fail at load time
# with their name, and which reports the annotations it drops
dataset_type = 'CheckedCocoDataset'
data_root = 'data/DAIR-V2X/cooperative-vehicle-infrastructure/'
classes = ('Car', 'Truck', 'Van', 'Bus', 'Pedestrian', 'Cyclist',
           'Tricyclist', 'Motorcyclist', 'Barrowlist', 'TrafficCone')
metainfo = dict(classes=classes)
img_scale = (640, 640)
backend_args = None

# Every image is resized to fit img_scale with its aspect ratio kept, in
# training and test alike. Mosaic puts four such images on a 2x canvas;
# RandomAffine with border = -img_scale / 2 cuts an img_scale window out of
# it (as mmdet's YOLOX configs do) at a random scale s in [0.75, 1.33], so
# objects train at their test size: more objects fit into the window at
# small s (their number goes as 1 / s^2), and over objects the mean scale
# is ln(1.33 / 0.75) / (1 / 0.75 - 1 / 1.33) = 0.99. (A Resize to img_scale
# after the 2x mosaic canvas would halve every object.)
train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
    dict(type='RandomAffine', scaling_ratio_range=(0.75, 1.33),
         max_rotate_degree=0.0, max_shear_degree=0.0,
         border=(-img_scale[0] // 2, -img_scale[1] // 2)),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomFlip', prob=0.5),
    # a window without boxes stays a (background) sample: keep_empty=True
    # would return None, and the mix dataset cannot refetch a window
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs'),
]
# The last epoch(s) without strong augmentation (RT-DETR): the test-time
# resize, flips only; run by mmdet's PipelineSwitchHook after the loading
# steps of the inner dataset.
train_pipeline_stage2 = [
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='featsel.CheckedLoadImageFromFile',
         backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
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
                dict(type='featsel.CheckedLoadImageFromFile',
                     backend_args=backend_args),
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
