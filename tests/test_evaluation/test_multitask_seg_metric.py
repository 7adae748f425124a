import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from featsel.evaluation import MultiTaskSegMetric
from featsel.models.segmentors.multitask import TaskSpec
from featsel.registry import METRICS
from featsel.utils import ConfigError

KINDS = dict(seg='mask', sdf='sdf', bnd='boundary')


def _square(lo_row, lo_col, side=4, size=10, label=1):
    mask = torch.zeros(1, size, size, dtype=torch.long)
    mask[:, lo_row:lo_row + side, lo_col:lo_col + side] = label
    return mask


def _outline(mask):
    inner = torch.zeros_like(mask)
    m = mask[0]
    inner[0, 1:-1, 1:-1] = m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & \
        m[1:-1, 2:] & m[1:-1, 1:-1]
    return mask - inner


def _sample(kinds=KINDS, num_classes=2, **maps):
    """A sample as the segmentor writes it: ``pred_<task>`` carries its
    kind unless ``kinds`` is empty."""
    sample = SegDataSample()
    for name, data in maps.items():
        task = name.split('_', 1)[1]
        meta = (dict(kind=kinds[task], num_classes=num_classes)
                if name.startswith('pred_') and task in kinds else {})
        sample.set_data({name: PixelData(data=data, metainfo=meta)})
    return sample.to_dict()


def _shifted_square_sample(kinds=KINDS):
    gt, pred = _square(2, 2), _square(2, 3)
    gt_sdf = torch.linspace(-1, 1, 100).reshape(1, 10, 10)
    return _sample(
        kinds,
        gt_seg=gt,
        pred_seg=pred,
        gt_sdf=gt_sdf,
        pred_sdf=gt_sdf + 0.1,
        gt_bnd=_outline(gt),
        pred_bnd=_outline(pred))


def _evaluate(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_registered():
    assert METRICS.get('MultiTaskSegMetric') is MultiTaskSegMetric


@pytest.mark.parametrize('tolerance,f_score', [(0, 0.5), (1, 1.0)])
def test_shifted_square_scored_by_the_kinds_predictions_carry(
        tolerance, f_score):
    metric = MultiTaskSegMetric(boundary_tolerance=tolerance)
    res = _evaluate(metric, [_shifted_square_sample()])
    # 16 px squares shifted by one column: overlap 12.
    assert res['seg/dice'] == 0.75  # 2 * 12 / 32
    assert res['seg/iou'] == 0.6  # 12 / 20
    assert res['sdf/mae'] == pytest.approx(0.1, abs=1e-4)
    assert res['bnd/precision'] == f_score
    assert res['bnd/recall'] == f_score
    assert res['bnd/f_score'] == f_score


def test_declared_kinds_score_samples_without_kinds():
    metric = MultiTaskSegMetric(tasks=KINDS)
    res = _evaluate(metric, [_shifted_square_sample(kinds={})])
    assert res['seg/dice'] == 0.75 and res['bnd/f_score'] == 1.0


def test_prediction_without_kind_and_no_declaration_is_named():
    sample = _shifted_square_sample(kinds={})
    with pytest.raises(ValueError, match='none among'):
        MultiTaskSegMetric().process({}, [sample])
    with pytest.raises(ValueError, match='"seg".*no known kind'):
        MultiTaskSegMetric(tasks=['seg']).process({}, [sample])


def test_trivial_predictors_and_mean_over_images():
    empty = torch.zeros(1, 10, 10, dtype=torch.long)
    samples = [
        _sample(gt_seg=_square(2, 2), pred_seg=_square(2, 2)),
        _sample(gt_seg=empty, pred_seg=_square(0, 0, side=2)),
    ]
    res = _evaluate(MultiTaskSegMetric(tasks=['seg']), samples)
    assert set(res) == {'seg/dice', 'seg/iou', 'seg/dice_all_fg',
                        'seg/dice_all_bg'}
    # Image 1: perfect; image 2: 4 false positives on an empty truth.
    assert res['seg/dice'] == 0.5 and res['seg/iou'] == 0.5
    # all-fg: 2*16/(100+16) on image 1, 0 on image 2; all-bg: 0 and 1.
    assert res['seg/dice_all_fg'] == round(32 / 116 / 2, 4)
    assert res['seg/dice_all_bg'] == 0.5


def _two_class_sample(swap):
    """Class 1 a 4x4 square (16 px), class 2 a 2x2 square (4 px)."""
    gt = _square(1, 1) + _square(6, 6, side=2, label=2)
    pred = gt.clone()
    if swap:
        pred[gt == 1], pred[gt == 2] = 2, 1
    return _sample(num_classes=3, gt_seg=gt, pred_seg=pred)


def test_swapped_class_labels_score_low():
    """Binarising masks gave Dice 1.0 to a prediction with every class
    label swapped; per-class scores give it 0."""
    res = _evaluate(MultiTaskSegMetric(), [_two_class_sample(swap=True)])
    assert res['seg/dice'] == 0.0 and res['seg/iou'] == 0.0
    assert res['seg/dice_1'] == res['seg/dice_2'] == 0.0
    exact = _evaluate(MultiTaskSegMetric(), [_two_class_sample(swap=False)])
    assert exact['seg/dice'] == exact['seg/iou'] == 1.0


def test_multiclass_per_class_and_mean_by_hand():
    gt = _square(1, 1) + _square(6, 6, side=2, label=2)
    pred = _square(1, 2) + _square(6, 6, side=2, label=2)
    pred[0, 6, 6] = 0  # class 2: 3 of 4 pixels
    res = _evaluate(MultiTaskSegMetric(tasks=dict(
        seg=dict(kind='mask', num_classes=3))), [_sample(
            kinds={}, gt_seg=gt, pred_seg=pred)])
    assert res['seg/dice_1'] == 0.75 and res['seg/iou_1'] == 0.6
    assert res['seg/dice_2'] == round(6 / 7, 4)  # 2*3 / (3+4)
    assert res['seg/iou_2'] == 0.75  # 3 / 4
    assert res['seg/dice'] == round((0.75 + 6 / 7) / 2, 4)
    assert res['seg/iou'] == round((0.6 + 0.75) / 2, 4)
    assert res['seg/dice_all_bg'] == 0.0 and 'seg/dice_all_fg' not in res


def test_label_beyond_num_classes_names_the_task():
    sample = _sample(gt_seg=_square(2, 2, label=2), pred_seg=_square(2, 2))
    with pytest.raises(ValueError, match='"seg".*outside 0..1'):
        MultiTaskSegMetric().process({}, [sample])


def test_custom_task_names_and_prefix():
    sample = _shifted_square_sample()
    renamed = {k.replace('seg', 'lesion'): v for k, v in sample.items()}
    metric = MultiTaskSegMetric(tasks=['lesion'], prefix='val')
    res = _evaluate(metric, [renamed])
    assert set(res) == {f'val/lesion/{k}' for k in
                        ('dice', 'iou', 'dice_all_fg', 'dice_all_bg')}
    assert res['val/lesion/dice'] == 0.75


def test_deprecated_task_arguments_keep_working():
    with pytest.warns(FutureWarning, match='mask_task'):
        metric = MultiTaskSegMetric(mask_task='seg', sdf_task='sdf',
                                    boundary_task='bnd')
    res = _evaluate(metric, [_shifted_square_sample(kinds={})])
    assert res['seg/dice'] == 0.75 and res['sdf/mae'] == pytest.approx(0.1)
    with pytest.warns(FutureWarning):  # the others keep their old defaults
        metric = MultiTaskSegMetric(boundary_task=None)
    assert metric.names == ['seg', 'sdf']
    with pytest.raises(ConfigError, match='at least one task'):
        MultiTaskSegMetric(mask_task=None, sdf_task=None, boundary_task=None)


def test_missing_field_names_task():
    sample = _shifted_square_sample()
    del sample['pred_bnd']
    metric = MultiTaskSegMetric(tasks=['seg', 'bnd'])
    with pytest.raises(KeyError, match='pred_bnd.*"bnd"'):
        metric.process({}, [sample])


def test_shape_mismatch_names_task():
    sample = _sample(gt_seg=_square(2, 2), pred_seg=_square(2, 2, size=12))
    with pytest.raises(ValueError, match='"seg"'):
        MultiTaskSegMetric().process({}, [sample])


@pytest.mark.parametrize('tasks, match', [
    ([], 'tasks is empty'),
    ('seg', 'list of task names'),
    (dict(seg='heatmap'), r'tasks.seg: kind .heatmap.'),
])
def test_bad_tasks_rejected(tasks, match):
    with pytest.raises(ConfigError, match=match):
        MultiTaskSegMetric(tasks=tasks)


def _model_tasks(**kinds):
    return {n: TaskSpec(n, k, [dict(type='mmdet.L1Loss')])
            for n, k in kinds.items()}


def test_check_model_tasks_names_the_key_and_the_model_tasks():
    model_tasks = _model_tasks(seg='mask', sdf='sdf', bnd='boundary')
    MultiTaskSegMetric().check_model_tasks(model_tasks)
    MultiTaskSegMetric(tasks=['bnd']).check_model_tasks(model_tasks)
    with pytest.warns(FutureWarning):
        old = MultiTaskSegMetric(mask_task='mask')
    with pytest.raises(ConfigError,
                       match=r'val_evaluator.mask_task names task "mask", '
                       r"which the model lacks; model.tasks has \['bnd'"):
        old.check_model_tasks(model_tasks, 'val_evaluator')
    with pytest.raises(ConfigError, match=r'"sdf" is scored as kind .mask.'):
        MultiTaskSegMetric(tasks=dict(sdf='mask')).check_model_tasks(
            model_tasks)
