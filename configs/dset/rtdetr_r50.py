# Plain RT-DETR-R50 baseline (no pruning, dense FFNs) on the demo shapes set.
_base_ = [
    '../_base_/models/rtdetr_r50.py',
    '../_base_/datasets/demo_shapes_detection.py',
    '../_base_/schedules/detection_demo.py', '../_base_/det_runtime.py'
]
