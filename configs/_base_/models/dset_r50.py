# DSET-R50 (SPEC S4): RT-DETR-R50 with token pruning (keep 0.7), encoder
# Patch-MoE (4 experts top-2) and decoder MoE (6 experts top-3).
_base_ = ['rtdetr_r50.py']
model = dict(
    neck=dict(
        pruner=dict(type='LearnableTokenPruner', hidden_dims=128,
                    keep_ratio=0.7, warmup_epochs=10, fill='keep',
                    loss_weight=0.001),
        moe_cfg=dict(
            type='MoEFFN',
            num_experts=4,
            top_k=2,
            expert=dict(type='FFNExpert', hidden_dims=1024,
                        act_cfg=dict(type='GELU')),
            balance_loss_weight=0.05)),
    decoder=dict(
        moe_cfg=dict(
            type='MoEFFN',
            num_experts=6,
            top_k=3,
            expert=dict(type='FFNExpert', hidden_dims=1024,
                        act_cfg=dict(type='ReLU')),
            balance_loss_weight=0.05)))
# experts that get no token in a step have no gradient
find_unused_parameters = True
