# Multi-modal ReID with CLIP's ViT-B/16 image tower at 256 x 128 (a 16 x 8
# grid of 128 tokens, width 768, projected to C = 512) shared by RGB, NIR
# and TIR, as DeMo; no selector: the baseline. The backbone and projection
# weights come from an OpenAI CLIP checkpoint converted by
# tools/model_converters/clip2featsel.py (which resizes the 14 x 14 position
# embedding to 16 x 8; see docs/user_guides/reid.md).
model = dict(
    type='MultiModalReID',
    modalities=('RGB', 'NI', 'TI'),
    data_preprocessor=dict(
        type='MultiModalReIDDataPreprocessor',
        # DeMo's normalisation, (x / 255 - 0.5) / 0.5, for every modality
        mean=[[127.5, 127.5, 127.5]] * 3,
        std=[[127.5, 127.5, 127.5]] * 3),
    backbone=dict(
        type='mmseg.VisionTransformer',
        img_size=(256, 128),
        patch_size=16,
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4,
        qkv_bias=True,
        patch_bias=False,
        act_cfg=dict(type='QuickGELU'),
        output_cls_token=True,
        pre_norm=True,  # CLIP's ln_pre
        final_norm=True),  # CLIP's ln_post
    share_backbone=True,
    embed_dims=512,
    num_classes=None,  # training identities, set by the experiment config
    head=dict(
        type='BNNeckHead',
        loss_cls=dict(type='LabelSmoothingCrossEntropyLoss',
                      label_smoothing=0.1, loss_weight=0.25),
        loss_triplet=dict(type='mmdet.TripletLoss', margin=0.3,
                          loss_weight=1.0)),
    test_feature='before',
    # on the whole model: the keys are backbones.0.* and projections.0.fc.*
    init_cfg=dict(type='Pretrained',
                  checkpoint='data/pretrained/clip_vit_b16_256x128.pth'))
