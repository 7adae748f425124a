# The demo RGBNT201 set (seeded synthetic RGB / near-infrared / thermal
# people in the RGBNT201 layout, 128 x 64 images), written under
# data/demo_rgbnt201 on first use (or by `python tools/misc/make_demo_data.py
# --set rgbnt201`): 40 training identities, 24 test identities (query =
# gallery), 2-3 cameras each. For the real set use rgbnt201.py. Batches of
# P x K = 8 identities x 2 images (18 per epoch); the augmentation of
# rgbnt201.py with the padding scaled to the image size.
dataset_type = 'RGBNT201Dataset'
data_root = 'data/demo_rgbnt201/'
modalities = ('RGB', 'NI', 'TI')
img_scale = (64, 128)  # (w, h)

train_pipeline = [
    dict(type='LoadMultiModalImages', channel_order='rgb'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False,
         interpolation='bicubic'),
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=5),
    # noise that is N(0, 1) after the data preprocessor's normalisation
    dict(type='RandomErasing', prob=0.5, fill='random',
         mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    dict(type='PackMultiModalReIDInputs'),
]
test_pipeline = [
    dict(type='LoadMultiModalImages', channel_order='rgb'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False,
         interpolation='bicubic'),
    dict(type='PackMultiModalReIDInputs'),
]
train_dataloader = dict(
    batch_size=8 * 2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='IdentityBalancedSampler', num_identities=8,
                 num_instances=2),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        modalities=modalities,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        modalities=modalities,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# Market-1501 protocol on L2-normalised features; keys mAP, R1, R5, R10,
# mINP (percent)
val_evaluator = dict(type='MultiModalReIDMetric', ranks=(1, 5, 10),
                     normalize=True)
test_evaluator = val_evaluator
