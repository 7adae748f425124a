"""The task-kind table and the task declarations that read it."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from featsel.datasets.transforms import GenerateBoundary, GenerateSDF
from featsel.evaluation import MultiTaskSegMetric
from featsel.models.segmentors.multitask import (TASK_KINDS, TaskKind,
                                                 TaskSpec,
                                                 make_synthetic_target,
                                                 register_task_kind)
from featsel.registry import MODELS
from featsel.utils import ConfigError
from featsel.visualization import MultiTaskSegVisualizer
from tests.test_models.helpers import synthetic_batch, tiny_segmentor_cfg


def _spec(kind, num_classes=2):
    return TaskSpec.from_cfg('t', dict(kind=kind, num_classes=num_classes,
                                       loss=dict(type='mmdet.L1Loss')))


def test_table_holds_the_three_kinds_and_their_forms():
    assert {k: v.loss_form for k, v in TASK_KINDS.items()} == dict(
        mask='classification', boundary='classification', sdf='regression')
    assert {k: v.pad_value for k, v in TASK_KINDS.items()} == dict(
        mask=0.0, boundary=0.0, sdf=1.0)


def test_activations_and_decisions_by_kind():
    logits = torch.tensor([[[[2.0]], [[-1.0]], [[0.5]]]])  # (1, 3, 1, 1)
    multi = _spec('mask', num_classes=3)
    assert multi.out_channels == 3
    assert multi.activate(logits).sum(1).item() == pytest.approx(1.0)
    assert multi.decide(logits).item() == 0
    one = logits[:, :1]
    assert _spec('boundary').activate(one).item() == pytest.approx(
        1 / (1 + np.exp(-2.0)))
    assert _spec('boundary').decide(-one).item() == 0
    assert _spec('sdf').decide(one).item() == pytest.approx(np.tanh(2.0))
    pred, target = multi.loss_inputs(logits, torch.ones(1, 1, 1, 1))
    assert pred is logits and target.dtype == torch.long
    assert target.shape == (1, 1, 1)


def test_targets_by_hand():
    """5x5 mask with a 3x3 square in the middle."""
    labels = np.zeros((5, 5), np.int64)
    labels[1:4, 1:4] = 1
    sdf = TASK_KINDS['sdf'].make_target(labels, clip_distance=2.0)
    # centre: 2 px to background -> -2/2 = -1; corner pixel (0,0): sqrt(2)
    # to the square -> sqrt(2)/2; square edge pixel: 1 px to background.
    assert sdf[2, 2] == -1.0
    assert sdf[0, 0] == pytest.approx(np.sqrt(2) / 2)
    assert sdf[1, 2] == -0.5 and sdf[0, 2] == 0.5
    bnd = TASK_KINDS['boundary'].make_target(labels, width=1)
    expected = labels.copy()
    expected[2, 2] = 0
    np.testing.assert_array_equal(bnd, expected)


def test_transforms_read_the_table():
    labels = np.zeros((9, 9), np.uint8)
    labels[2:7, 3:8] = 1
    results = GenerateSDF(clip_distance=3.0)(dict(gt_seg_map=labels))
    results = GenerateBoundary(width=2)(results)
    np.testing.assert_array_equal(
        results['gt_sdf_map'],
        TASK_KINDS['sdf'].make_target(labels, clip_distance=3.0))
    np.testing.assert_array_equal(
        results['gt_boundary_map'],
        TASK_KINDS['boundary'].make_target(labels, width=2))


@pytest.mark.parametrize('kind, num_classes', [('mask', 2), ('mask', 4),
                                               ('boundary', 2), ('sdf', 2)])
def test_synthetic_targets_are_targets_of_their_kind(kind, num_classes):
    spec = _spec(kind, num_classes)
    g = torch.Generator().manual_seed(3)
    target = make_synthetic_target(spec, (24, 20), g)
    again = make_synthetic_target(spec, (24, 20),
                                  torch.Generator().manual_seed(3))
    assert target.shape == (1, 24, 20) and torch.equal(target, again)
    if kind == 'sdf':
        assert target.dtype == torch.float32
        assert target.min() >= -1 and target.max() <= 1
        assert target.min() < 0 < target.max()  # a contour inside
    else:
        assert target.min() >= 0 and target.max() < num_classes
        assert target.max() > 0  # some foreground


def test_task_set_to_none_is_named_with_how_to_remove_it():
    tasks = dict(tiny_segmentor_cfg()['tasks'], bnd=None)
    with pytest.raises(ConfigError,
                       match=r'model.tasks.bnd is None.*_delete_=True'):
        MODELS.build(tiny_segmentor_cfg(tasks=tasks))


def test_num_classes_only_for_multiclass_kinds():
    with pytest.raises(ConfigError, match=r"multi-class kinds \['mask'\]"):
        _spec('sdf', num_classes=3)


def test_register_rejects_taken_names_and_unknown_forms():
    with pytest.raises(ValueError, match='taken'):
        register_task_kind(type('Again', (TaskKind, ), dict(name='sdf')))
    with pytest.raises(ValueError, match='loss_form'):
        register_task_kind(type('Odd', (TaskKind, ),
                                dict(name='odd', loss_form='ranking')))
    assert 'odd' not in TASK_KINDS


@pytest.fixture
def depth_kind():
    """A kind registered by a test, as a new system would register one."""

    class DepthKind(TaskKind):
        name = 'test_depth'
        loss_form = 'regression'
        smooth = True

        def activate(self, logits, num_classes):
            return logits.relu()

        decide = activate

        def loss_inputs(self, logits, target, num_classes):
            return logits.relu(), target.float()

        def make_target(self, labels):
            return (np.asarray(labels) > 0).astype(np.float32) * 3

        def score(self, pred, gt, num_classes, tolerance):
            return dict(rmse=float(np.sqrt(((pred - gt)**2).mean())))

        def draw(self, image, value, num_classes, alpha):
            return np.repeat((value * 60).astype(np.uint8)[..., None], 3, 2)

    register_task_kind(DepthKind)
    yield TASK_KINDS['test_depth']
    del TASK_KINDS['test_depth']


def test_a_registered_kind_trains_scores_and_draws(depth_kind):
    """No edit outside the kind: the segmentor, the metric and the
    visualizer take it from the table."""
    torch.manual_seed(0)
    tasks = dict(depth=dict(kind='test_depth',
                            loss=dict(type='mmdet.L1Loss')))
    model = MODELS.build(tiny_segmentor_cfg(tasks=tasks))
    assert model.loss_weighting.task_forms == dict(depth='regression')
    inputs, samples = synthetic_batch()
    for s in samples:
        s.gt_depth = PixelData(data=torch.from_numpy(
            depth_kind.make_target(s.gt_seg.data.numpy()[0])[None]))
    losses = model(inputs, samples, mode='loss')
    assert losses['loss_depth'].requires_grad
    model.eval()
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
    assert out[0].pred_depth.metainfo['kind'] == 'test_depth'
    assert 'prob_depth' not in out[0]
    metric = MultiTaskSegMetric()
    metric.process({}, [s.to_dict() for s in out])
    assert set(metric.evaluate(len(out))) == {'depth/rmse'}
    drawn = MultiTaskSegVisualizer(name='vis_depth').draw_panels(
        np.zeros((16, 16, 3), np.uint8), out[0])
    assert drawn.shape == (32, 32, 3)


def test_predictions_carry_kind_classes_and_task_order():
    cfg = tiny_segmentor_cfg()
    cfg['tasks']['seg'] = dict(kind='mask', num_classes=3,
                               loss=dict(type='mmdet.CrossEntropyLoss'))
    model = MODELS.build(cfg).eval()
    inputs, samples = synthetic_batch(batch_size=1)
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')[0]
    assert out.metainfo['tasks'] == ('seg', 'sdf', 'bnd')
    assert out.pred_seg.metainfo == dict(kind='mask', num_classes=3)
    assert out.pred_sdf.metainfo == dict(kind='sdf', num_classes=2)
    assert out.prob_seg.data.shape == (3, 16, 16)
    # the metric scores the three classes without being told
    metric = MultiTaskSegMetric()
    metric.process({}, [out.to_dict()])
    keys = set(metric.evaluate(1))
    assert {'seg/dice_1', 'seg/dice_2', 'sdf/mae', 'bnd/f_score'} <= keys


def test_sample_without_kind_is_not_guessed():
    sample = SegDataSample()
    sample.gt_x = PixelData(data=torch.zeros(1, 4, 4))
    sample.pred_x = PixelData(data=torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match='none among'):
        MultiTaskSegMetric().process({}, [sample.to_dict()])
