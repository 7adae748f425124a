# RGBNT201 (aligned RGB / near-infrared / thermal person images) in its
# public layout: data/RGBNT201/{train_171,test}/{RGB,NI,TI}/<name>.jpg,
# <name> = PPPPPP_camC_....jpg (see docs/user_guides/reid.md). The test
# folder is query and gallery at once (Market-1501 protocol). 256 x 128
# images, P x K = 8 identities x 8 images per batch, the DeMo augmentation
# (flip, 10-pixel pad-and-crop, random erasing with normal noise), the same
# random parameters for every modality of a sample.
dataset_type = 'RGBNT201Dataset'
data_root = 'data/RGBNT201/'
modalities = ('RGB', 'NI', 'TI')
img_scale = (128, 256)  # (w, h)

train_pipeline = [
    dict(type='LoadMultiModalImages', channel_order='rgb'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False,
         interpolation='bicubic'),
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomPadCrop', padding=10),
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
    batch_size=8 * 8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='IdentityBalancedSampler', num_identities=8,
                 num_instances=8),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        modalities=modalities,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
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
