# RT-DETR-R18 with token pruning only (SPEC S4, small model): keep 60 % of
# the stride-32 tokens before the encoder transformer, reached linearly over
# the first 10 epochs; pruned tokens keep their input features.
_base_ = ['rtdetr_r18.py', '../_base_/models/dset_sparsity.py']
model = dict(neck=dict(pruner={{_base_.token_pruner_small}}))
