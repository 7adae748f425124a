# SDTPS on RGBNT201 at full size: baseline_vit_b16_rgbnt201.py plus one
# SDTPS selector per modality (128 -> 64 kept -> 25 aggregated + 1 extra
# token) and its branch (ID + triplet losses on its own BNNeck, weighted by
# sdtps_loss_weight); the test feature is, per modality, the global token
# and the mean of the 26 selected tokens.
_base_ = [
    'baseline_vit_b16_rgbnt201.py', '../_base_/models/sdtps_selector.py'
]
model = dict(selector={{_base_.sdtps_selector}},
             sdtps_loss_weight=1.0)
