# E5_HybridMidHigh: TaskDW on f1-f3, depthwise experts (E3's weak prior) on
# f4-f5 (SPEC S1). E4 with another per-scale plan.
_base_ = ['e4_hybrid_high.py']

model = dict(selector=dict(plan=['task_dw'] * 3 + ['dw_experts'] * 2))
