# Baseline on RGBNT201 at full size: CLIP ViT-B/16 (converted with
# tools/model_converters/, see docs/user_guides/reid.md) shared by RGB, NIR
# and TIR at 256 x 128, the DeMo recipe (batch 8 ids x 8 images, Adam
# 3.5e-4, warm-up, 50 epochs); the feature is the concatenation of the
# three projected global (cls) tokens. sdtps_vit_b16_rgbnt201.py adds SDTPS.
_base_ = [
    '../_base_/models/reid_vit_b16.py', '../_base_/datasets/rgbnt201.py',
    '../_base_/schedules/reid_50e.py', '../_base_/reid_runtime.py'
]
model = dict(num_classes=171)  # identities of train_171
