import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from featsel.evaluation import MultiTaskSegMetric
from featsel.registry import METRICS


def _square(lo_row, lo_col, side=4, size=10):
    mask = torch.zeros(1, size, size, dtype=torch.long)
    mask[:, lo_row:lo_row + side, lo_col:lo_col + side] = 1
    return mask


def _outline(mask):
    inner = torch.zeros_like(mask)
    m = mask[0]
    inner[0, 1:-1, 1:-1] = m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & \
        m[1:-1, 2:] & m[1:-1, 1:-1]
    return mask - inner


def _sample(**maps):
    sample = SegDataSample()
    for name, data in maps.items():
        sample.set_data({name: PixelData(data=data)})
    return sample.to_dict()


def _shifted_square_sample():
    gt, pred = _square(2, 2), _square(2, 3)
    gt_sdf = torch.linspace(-1, 1, 100).reshape(1, 10, 10)
    return _sample(
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
def test_shifted_square(tolerance, f_score):
    metric = MultiTaskSegMetric(boundary_tolerance=tolerance)
    res = _evaluate(metric, [_shifted_square_sample()])
    assert res['seg/dice'] == 0.75
    assert res['seg/iou'] == 0.6
    assert res['sdf/mae'] == pytest.approx(0.1, abs=1e-4)
    assert res['bnd/precision'] == f_score
    assert res['bnd/recall'] == f_score
    assert res['bnd/f_score'] == f_score


def test_trivial_predictors_and_mean_over_images():
    empty = torch.zeros(1, 10, 10, dtype=torch.long)
    samples = [
        _sample(gt_seg=_square(2, 2), pred_seg=_square(2, 2)),
        _sample(gt_seg=empty, pred_seg=_square(0, 0, side=2)),
    ]
    res = _evaluate(MultiTaskSegMetric(sdf_task=None, boundary_task=None),
                    samples)
    assert set(res) == {'seg/dice', 'seg/iou', 'seg/dice_all_fg',
                        'seg/dice_all_bg'}
    # Image 1: perfect; image 2: 4 false positives on an empty truth.
    assert res['seg/dice'] == 0.5 and res['seg/iou'] == 0.5
    # all-fg: 2*16/(100+16) on image 1, 0 on image 2; all-bg: 0 and 1.
    assert res['seg/dice_all_fg'] == round(32 / 116 / 2, 4)
    assert res['seg/dice_all_bg'] == 0.5


def test_custom_task_names_and_prefix():
    sample = _shifted_square_sample()
    renamed = {k.replace('seg', 'lesion'): v for k, v in sample.items()}
    metric = MultiTaskSegMetric(
        mask_task='lesion', sdf_task=None, boundary_task=None, prefix='val')
    res = _evaluate(metric, [renamed])
    assert res['val/lesion/dice'] == 0.75


def test_missing_field_names_task():
    sample = _shifted_square_sample()
    del sample['pred_bnd']
    metric = MultiTaskSegMetric()
    with pytest.raises(KeyError, match='pred_bnd.*"bnd"'):
        metric.process({}, [sample])


def test_shape_mismatch_names_task():
    sample = _sample(gt_seg=_square(2, 2), pred_seg=_square(2, 2, size=12))
    metric = MultiTaskSegMetric(sdf_task=None, boundary_task=None)
    with pytest.raises(ValueError, match='"seg"'):
        metric.process({}, [sample])


def test_all_tasks_none_rejected():
    with pytest.raises(ValueError, match='at least one task'):
        MultiTaskSegMetric(mask_task=None, sdf_task=None, boundary_task=None)
