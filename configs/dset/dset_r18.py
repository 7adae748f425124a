# DSET-R18 (SPEC S4): token pruning (keep 0.6) + encoder Patch-MoE
# (2 experts top-1) + decoder MoE (3 experts top-2) on RT-DETR-R18.
_base_ = ['rtdetr_r18_moe.py']
model = dict(
    neck=dict(
        pruner=dict(type='LearnableTokenPruner', hidden_dims=128,
                    keep_ratio=0.6, warmup_epochs=10, fill='keep',
                    loss_weight=0.001)))
