# MoE-I router (SPEC S3, seed 002 §1.3): an MLP (LayerNorm, two hidden
# layers of 256, 83 k parameters) on the cached bottleneck vector
# `global_vec` of the restorer's global pass (token_dims = 64 of
# restorer_glr_tiny.py), trained by utility distillation, KL(q || p). The
# experts are listed in the order of the router's outputs; the data set
# reorders the label columns to the same list.
model = dict(
    type='UtilityRouterModel',
    experts=['dehaze', 'derain', 'desnow'],
    router=dict(type='UtilityRouter', input='global', in_dims=64,
                hidden_dims=256, num_layers=2, dropout=0.1),
    loss=dict(type='SoftLabelKLLoss'))
