# RT-DETR-R18 with mixture-of-experts FFNs only (SPEC S4, small model):
# encoder Patch-MoE 2 experts top-1, decoder MoE 3 experts top-2. Experts are
# full-width FFNs (as the seed); `expert.hidden_dims=1024 // top_k` keeps the
# active FLOPs per token equal to the dense FFN.
_base_ = ['rtdetr_r18.py']
model = dict(
    neck=dict(
        moe_cfg=dict(
            type='MoEFFN',
            num_experts=2,
            top_k=1,
            expert=dict(type='FFNExpert', hidden_dims=1024,
                        act_cfg=dict(type='GELU')),
            # with one expert per token a renormalised weight is always 1
            # and the router would learn from the balance loss alone
            router=dict(type='TopKRouter', renormalize=False),
            balance_loss_weight=0.1)),
    decoder=dict(
        moe_cfg=dict(
            type='MoEFFN',
            num_experts=3,
            top_k=2,
            expert=dict(type='FFNExpert', hidden_dims=1024,
                        act_cfg=dict(type='ReLU')),
            balance_loss_weight=0.05)))
# experts that get no token in a step have no gradient
find_unused_parameters = True
