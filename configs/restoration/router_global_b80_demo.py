# MoE-I router on the cached global vector, soft labels at beta = 80 (the
# beta candidates of seed 002 §3.2; see router_global_b50_demo.py).
_base_ = ['./router_global_b50_demo.py']
train_dataloader = dict(dataset=dict(beta=80.))
val_dataloader = dict(dataset=dict(beta=80.))
test_dataloader = dict(dataset=dict(beta=80.))
