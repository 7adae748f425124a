# Utility labels of the demo experts (written by
# tools/analysis_tools/utility_labels.py on the train and val splits of the
# demo restoration set, `make moe-i`). The router trains on the train
# split's scenes minus a held-out 20 % (subset='fit'), is validated on the
# held-out scenes (subset='holdout', where beta is chosen), and is tested on
# the val split, the calibration split of tools/analysis_tools/
# calibrate_router.py; the test split of the restoration set stays for the
# MoE-I evaluation. Soft labels q = softmax(-beta * MSE), beta set by the
# experiment config.
dataset_type = 'RouterLabelsDataset'
data_root = 'work_dirs/moe_i_demo/labels/'
labels = dict(type=dataset_type, data_root=data_root,
              ann_file='utility_labels.jsonl', beta=50.,
              experts=['dehaze', 'derain', 'desnow'], holdout_fraction=0.2,
              holdout_seed=0)

train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(labels, split='train', subset='fit'))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(labels, split='train', subset='holdout', test_mode=True))
test_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(labels, split='val', subset='all', test_mode=True))
# accuracy vs the oracle expert, NLL, ECE, KL(q || p), routed PSNR and the
# oracle gap (dB), all at T = 1
val_evaluator = dict(type='RouterMetric')
test_evaluator = val_evaluator
