# The DSET sparsity mechanisms of SPEC S4, one dict each, for the configs
# that switch them on (configs/dset/*.py), e.g.
#   model = dict(neck=dict(pruner={{_base_.token_pruner}}))
# Large model (R50): keep 0.7, encoder 4 experts top-2, decoder 6 top-3.
# Small model (R18, `*_small`): keep 0.6, encoder 2 top-1, decoder 3 top-2.
# Experts are full-width FFNs (as the seed); `expert.hidden_dims=1024 //
# top_k` keeps the active FLOPs per token equal to the dense FFN.

# Token pruning before the encoder transformer: the keep ratio falls from
# 1 to keep_ratio over the first 10 epochs; pruned tokens keep their input.
token_pruner = dict(type='LearnableTokenPruner', hidden_dims=128,
                    keep_ratio=0.7, warmup_epochs=10, fill='keep',
                    loss_weight=0.001)
token_pruner_small = dict(type='LearnableTokenPruner', hidden_dims=128,
                          keep_ratio=0.6, warmup_epochs=10, fill='keep',
                          loss_weight=0.001)
# Patch-MoE in the encoder FFN; balance loss weight 0.05 (0.1 for top-1).
encoder_moe = dict(
    type='MoEFFN', num_experts=4, top_k=2,
    expert=dict(type='FFNExpert', hidden_dims=1024,
                act_cfg=dict(type='GELU')),
    balance_loss_weight=0.05)
encoder_moe_small = dict(
    type='MoEFFN', num_experts=2, top_k=1,
    expert=dict(type='FFNExpert', hidden_dims=1024,
                act_cfg=dict(type='GELU')),
    # with one expert per token a renormalised weight is always 1 and the
    # router would learn from the balance loss alone
    router=dict(type='TopKRouter', renormalize=False),
    balance_loss_weight=0.1)
# Decoder MoE FFN.
decoder_moe = dict(
    type='MoEFFN', num_experts=6, top_k=3,
    expert=dict(type='FFNExpert', hidden_dims=1024,
                act_cfg=dict(type='ReLU')),
    balance_loss_weight=0.05)
decoder_moe_small = dict(
    type='MoEFFN', num_experts=3, top_k=2,
    expert=dict(type='FFNExpert', hidden_dims=1024,
                act_cfg=dict(type='ReLU')),
    balance_loss_weight=0.05)
