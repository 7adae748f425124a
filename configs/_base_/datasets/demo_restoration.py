# The demo restoration set (seeded synthetic scenes degraded by haze, rain
# and snow; 128 x 128 pairs split by scene: 52 train / 10 val / 10 test
# pairs per task, plus one 3840 x 2160 scene for tiled inference), written
# under data/demo_restoration on first use (or by `python
# tools/misc/make_demo_data.py --set restoration`). Training batches mix the
# three tasks; crops grow by a patch curriculum (PatchCurriculumHook in the
# schedule) from `crop_size`. For data of your own see
# restoration_meta.py.
dataset_type = 'DemoRestorationDataset'
data_root = 'data/demo_restoration/'
crop_size = 64

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
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=10,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=10,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
# PSNR / SSIM per task and macro with bootstrap intervals; per-image records,
# summary and panels under <work_dir>/<timestamp>/restoration/ (out_dir)
val_evaluator = dict(
    type='RestorationMetric',
    run_info=dict(backbone='GlobalLocalRestorer', track='demo',
                  settings=dict(tile=512, overlap=64, blend='hann',
                                tta=False)))
test_evaluator = val_evaluator
