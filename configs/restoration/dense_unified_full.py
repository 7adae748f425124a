# Dense-unified baseline at full size (SPEC S3) on your paired data
# (meta.jsonl under data/restoration/, _base_/datasets/restoration_meta.py):
# the wider backbone, haze, rain and snow mixed, 300k iterations.
_base_ = [
    '../_base_/models/restorer_glr_small.py',
    '../_base_/datasets/restoration_meta.py',
    '../_base_/schedules/restoration_dense_300k.py',
    '../_base_/restoration_runtime.py'
]
val_evaluator = dict(run_info=dict(model='Dense-Unified'))
test_evaluator = dict(run_info=dict(model='Dense-Unified'))
