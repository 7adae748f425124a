# Paired restoration data of your own, listed by a meta.jsonl protocol file
# (docs/user_guides/restoration_datasets.md). Expected layout:
#
#   data/restoration/
#     meta.jsonl            one line per pair (tools/dataset_converters/
#                           restoration_to_meta.py writes it for RESIDE
#                           SOTS, Rain100L/H, Snow100K and plain lq/gt
#                           folders; concatenate the files of several sets)
#     <set>/...             the images, paths relative to meta.jsonl
#
# Splits come from the file (by scene); `degradations` keeps some of haze,
# rain, snow. Crops grow 256 -> 384 -> 512 (PatchCurriculumHook).
dataset_type = 'PairedRestorationDataset'
data_root = 'data/restoration/'
crop_size = 256

train_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='PairedRandomCrop', crop_size=crop_size),
    dict(type='PairedRandomFlipRot'),
    dict(type='PackRestorationInputs'),
]
test_pipeline = [
    dict(type='LoadPairedImages'),
    dict(type='PackRestorationInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta.jsonl',
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta.jsonl',
        split='val',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta.jsonl',
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(
    type='RestorationMetric',
    run_info=dict(backbone='GlobalLocalRestorer', track='System',
                  settings=dict(tile=512, overlap=64, blend='hann',
                                tta=False)))
test_evaluator = val_evaluator
