# RT-DETR-R50 (SPEC S4): ResNet-50-vd, full-width fusion (expansion 1.0),
# 6 decoder layers; everything else as RT-DETR-R18.
_base_ = ['rtdetr_r18.py']
model = dict(
    backbone=dict(depth=50),
    neck=dict(in_channels=[512, 1024, 2048], expansion=1.0),
    decoder=dict(num_layers=6))
