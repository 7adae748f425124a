# RT-DETR-R18 (SPEC S4): ResNet-18-vd, hybrid encoder with one AIFI layer on
# the stride-32 level, 3 DINO decoder layers, 300 queries, 100 denoising
# queries, VFL 1 / L1 5 / GIoU 2, matcher costs class 2 / L1 5 / GIoU 2.
# Each sparsity mechanism is one key, absent (off) here:
#   model.neck.pruner, model.neck.moe_cfg, model.decoder.moe_cfg
# (see configs/dset/rtdetr_r18_prune.py and rtdetr_r18_moe.py).
num_classes = 4
model = dict(
    type='RTDETR',
    num_queries=300,
    with_box_refine=True,
    as_two_stage=True,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNetV1d',
        depth=18,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        # no pretrained weights (nothing is downloaded); for a local
        # checkpoint add init_cfg=dict(type='Pretrained', checkpoint=PATH)
    ),
    neck=dict(
        type='HybridEncoder',
        in_channels=[128, 256, 512],
        embed_dims=256,
        encoder_levels=(2, ),
        num_encoder_layers=1,
        encoder_layer=dict(
            self_attn_cfg=dict(num_heads=8, dropout=0.0),
            ffn_cfg=dict(feedforward_channels=1024, ffn_drop=0.0,
                         act_cfg=dict(type='GELU'))),
        num_blocks=3,
        expansion=0.5),
    decoder=dict(
        num_layers=3,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0),
            cross_attn_cfg=dict(embed_dims=256, num_heads=8, num_levels=3,
                                num_points=4, dropout=0.0),
            ffn_cfg=dict(embed_dims=256, feedforward_channels=1024,
                         ffn_drop=0.0, act_cfg=dict(type='ReLU'))),
        post_norm_cfg=None),
    bbox_head=dict(
        type='DINOHead',
        num_classes=num_classes,
        sync_cls_avg_factor=True,
        loss_cls=dict(type='IoUVarifocalLoss', alpha=0.75, gamma=2.0,
                      loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    dn_cfg=dict(
        label_noise_scale=0.5,
        box_noise_scale=1.0,
        group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=100)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(max_per_img=300))
