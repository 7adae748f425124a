# Demo lesion set, written under data/demo_lesions on first use (or by
# `python tools/misc/make_demo_data.py`). For your own data in this layout
# use dataset_type = 'LesionSegDataset' and your data_root; ann_file=''
# lists every image of the folder. See docs/user_guides/datasets.md.
dataset_type = 'DemoLesionSegDataset'
data_root = 'data/demo_lesions/'
tasks = dict(seg='gt_seg_map', sdf='gt_sdf_map', bnd='gt_boundary_map')

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadAnnotations'),
    dict(type='mmcv.RandomFlip', prob=0.5, direction=['horizontal',
                                                      'vertical']),
    dict(type='mmseg.PhotoMetricDistortion', brightness_delta=16,
         contrast_range=(0.8, 1.2), saturation_range=(0.8, 1.2),
         hue_delta=4),
    dict(type='GenerateSDF', clip_distance=16.0),
    dict(type='GenerateBoundary', width=2),
    dict(type='PackMultiTaskInputs', targets=tasks),
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadAnnotations'),
    dict(type='GenerateSDF', clip_distance=16.0),
    dict(type='GenerateBoundary', width=2),
    dict(type='PackMultiTaskInputs', targets=tasks),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        ann_file='splits/train.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        ann_file='splits/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# scores every task of model.tasks by its kind; tasks=[...] scores a subset
val_evaluator = dict(type='MultiTaskSegMetric', boundary_tolerance=2)
test_evaluator = val_evaluator
