# RT-DETR-R18 with token pruning only (SPEC S4, small model): keep 60 % of
# the stride-32 tokens before the encoder transformer, reached linearly over
# the first 10 epochs; pruned tokens keep their input features.
_base_ = ['rtdetr_r18.py']
model = dict(
    neck=dict(
        pruner=dict(type='LearnableTokenPruner', hidden_dims=128,
                    keep_ratio=0.6, warmup_epochs=10, fill='keep',
                    loss_weight=0.001)))
