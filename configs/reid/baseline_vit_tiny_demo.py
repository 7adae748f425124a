# Baseline on the demo RGBNT201 set (SPEC S2): a tiny ViT shared by RGB,
# NIR and TIR; the feature is the concatenation of the three projected
# global (cls) tokens, with one BNNeck (ID + triplet loss).
# sdtps_vit_tiny_demo.py is this config plus the SDTPS selector.
_base_ = [
    '../_base_/models/reid_vit_tiny.py',
    '../_base_/datasets/demo_rgbnt201.py',
    '../_base_/schedules/reid_demo.py', '../_base_/reid_runtime.py'
]
model = dict(num_classes=40)  # training identities of the demo set
