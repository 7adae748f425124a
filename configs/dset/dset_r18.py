# DSET-R18 (SPEC S4): token pruning (keep 0.6) + encoder Patch-MoE
# (2 experts top-1) + decoder MoE (3 experts top-2) on RT-DETR-R18.
_base_ = ['rtdetr_r18.py', '../_base_/models/dset_sparsity.py']
model = dict(
    neck=dict(pruner={{_base_.token_pruner_small}},
              moe_cfg={{_base_.encoder_moe_small}}),
    decoder=dict(moe_cfg={{_base_.decoder_moe_small}}))
# experts that get no token in a step have no gradient
find_unused_parameters = True
