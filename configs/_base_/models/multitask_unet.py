# Shared 5-scale UNet encoder, one UNet decoder and one head per task.
norm_cfg = dict(type='BN')
model = dict(
    type='MultiTaskSegmentor',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=16),
    tasks=dict(
        seg=dict(kind='mask', loss=[
            dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True),
            dict(type='mmdet.DiceLoss', use_sigmoid=True),
        ]),
        sdf=dict(kind='sdf', loss=dict(type='mmdet.L1Loss')),
        bnd=dict(kind='boundary', loss=[
            dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True),
            dict(type='mmdet.DiceLoss', use_sigmoid=True),
        ]),
    ),
    encoder=dict(type='UNetEncoder', in_channels=3, base_channels=16,
                 num_stages=5, norm_cfg=norm_cfg),
    # selector=dict(type=...) plugs a feature selector in; none = identity
    decoder=dict(type='PerTaskUNetDecoder', norm_cfg=norm_cfg),
    # mmseg's FCNHead as each task's head; `_scope_` makes its own nested
    # builds (norm layers, its default loss) resolve in mmseg.
    head=dict(type='FCNHead', _scope_='mmseg', channels=16, num_convs=1,
              kernel_size=3, concat_input=False, dropout_ratio=0.0,
              threshold=0.5, norm_cfg=norm_cfg),
    loss_weighting=dict(type='UncertaintyWeightedLoss'),
)
