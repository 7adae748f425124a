# RT-DETR-R18 with mixture-of-experts FFNs only (SPEC S4, small model):
# encoder Patch-MoE 2 experts top-1, decoder MoE 3 experts top-2.
_base_ = ['rtdetr_r18.py', '../_base_/models/dset_sparsity.py']
model = dict(
    neck=dict(moe_cfg={{_base_.encoder_moe_small}}),
    decoder=dict(moe_cfg={{_base_.decoder_moe_small}}))
# experts that get no token in a step have no gradient
find_unused_parameters = True
