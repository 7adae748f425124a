# Depthwise experts (E3's weak prior) on f1-f3 only, f4-f5 passed raw (the
# variant SPEC S1 allows next to E4/E5). E4 with another per-scale plan.
_base_ = ['e4_hybrid_high.py']

model = dict(
    selector=dict(plan=['dw_experts'] * 3 + ['identity'] * 2, task_dw=None))
