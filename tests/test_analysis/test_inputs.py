"""Synthetic batches per system."""
import pytest
import torch
from torch import nn

from featsel.analysis.inputs import synthetic_batch
from featsel.analysis.models import ModelSpec, build_model
from tests.conftest import REPO_ROOT

S1 = ModelSpec(f'{REPO_ROOT}/configs/baseline_multitask.py',
               {'model.encoder.base_channels': 4, 'model.head.channels': 4})
S4 = ModelSpec(f'{REPO_ROOT}/configs/dset/rtdetr_r18.py')


def test_segmentor_batch_has_a_target_per_task():
    model = build_model(S1)
    batch = synthetic_batch(model, 2, (24, 32))
    assert [tuple(i.shape) for i in batch['inputs']] == [(3, 24, 32)] * 2
    assert batch['inputs'][0].dtype == torch.uint8
    for sample in batch['data_samples']:
        for name, task in model.tasks.items():
            target = sample.get(f'gt_{name}').data
            assert target.shape == (1, 24, 32)
            if task.kind == 'sdf':
                assert -1 <= target.min() and target.max() <= 1
            else:
                assert set(target.unique().tolist()) <= {0, 1}
    # the same seed gives the same batch
    again = synthetic_batch(model, 2, (24, 32))
    assert torch.equal(again['inputs'][1], batch['inputs'][1])


def test_detector_batch_boxes_lie_in_the_image():
    model = build_model(S4)
    batch = synthetic_batch(model, 2, (40, 60))
    for image, sample in zip(batch['inputs'], batch['data_samples']):
        assert image.shape == (3, 40, 60)
        boxes = sample.gt_instances.bboxes
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 61).all()
        assert (boxes[:, 3] <= 41).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        labels = sample.gt_instances.labels
        assert ((0 <= labels) & (labels < model.bbox_head.num_classes)).all()


def test_unknown_model_is_named():
    with pytest.raises(TypeError, match='no synthetic input maker for Linear'):
        synthetic_batch(nn.Linear(2, 2), 1, (8, 8))
