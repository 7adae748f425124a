# Multi-modal ReID with a tiny ViT (4 layers, width 128, patch 8 on 128x64:
# a 16x8 grid of 128 tokens, as ViT-B/16 on 256x128) for the demo set and
# the tests. RGB, NIR and TIR share the backbone; no selector: the baseline
# (concatenated global tokens). A selector adds the SDTPS branch.
model = dict(
    type='MultiModalReID',
    modalities=('RGB', 'NI', 'TI'),
    data_preprocessor=dict(
        type='MultiModalReIDDataPreprocessor',
        # one (R, G, B) triple per modality, in model.modalities order
        mean=[[127.5, 127.5, 127.5]] * 3,
        std=[[127.5, 127.5, 127.5]] * 3),
    backbone=dict(
        type='mmseg.VisionTransformer',
        img_size=(128, 64),
        patch_size=8,
        embed_dims=128,
        num_layers=4,
        num_heads=4,
        mlp_ratio=4,
        output_cls_token=True,
        final_norm=True,
        pre_norm=False),
    share_backbone=True,
    embed_dims=128,
    num_classes=None,  # training identities, set by the experiment config
    head=dict(
        type='BNNeckHead',
        # from scratch the identity loss leads (DeMo's 0.25 is for CLIP)
        loss_cls=dict(type='LabelSmoothingCrossEntropyLoss',
                      label_smoothing=0.1, loss_weight=1.0),
        loss_triplet=dict(type='mmdet.TripletLoss', margin=0.3,
                          loss_weight=1.0)),
    test_feature='before')
