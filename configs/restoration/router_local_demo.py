# Local router of ablation A (seed 002 §5): the same MLP on 14 statistics
# of the degraded image (channel means and spreads, saturation, dark
# channel, gradient energy, orientation coherence, high-frequency energy
# and skewness; UtilityRouter input='local') instead of the cached global
# vector. Soft labels at beta = 50.
_base_ = ['./router_global_b50_demo.py']
model = dict(router=dict(input='local', in_dims=None))
train_dataloader = dict(dataset=dict(with_image=True))
val_dataloader = dict(dataset=dict(with_image=True))
test_dataloader = dict(dataset=dict(with_image=True))
