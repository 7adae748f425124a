# DSET-R50 (SPEC S4) as one model piece, kept for configs that inherit it:
# RT-DETR-R50 with the sparsity dicts of dset_sparsity.py (token pruning
# keep 0.7, encoder Patch-MoE 4 experts top-2, decoder MoE 6 experts top-3).
# The shipped configs compose rtdetr_r50.py and dset_sparsity.py directly,
# which keeps them within two `_base_` levels.
_base_ = ['rtdetr_r50.py', 'dset_sparsity.py']
model = dict(
    neck=dict(pruner={{_base_.token_pruner}}, moe_cfg={{_base_.encoder_moe}}),
    decoder=dict(moe_cfg={{_base_.decoder_moe}}))
# experts that get no token in a step have no gradient
find_unused_parameters = True
