from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from scipy.ndimage import distance_transform_edt

from featsel.engine.hooks.visualization_hook import MultiTaskVisualizationHook
from featsel.registry import HOOKS, VISUALIZERS
from featsel.visualization import MultiTaskSegVisualizer

H, W = 64, 80


def _maps():
    mask = np.zeros((H, W), np.uint8)
    mask[20:44, 24:56] = 1
    sdf = np.clip((distance_transform_edt(1 - mask) -
                   distance_transform_edt(mask)) / 4, -1, 1)
    bnd = mask & (distance_transform_edt(mask) <= 1)
    return mask, sdf.astype(np.float32), bnd.astype(np.uint8)


def _maps_by_task():
    mask, sdf, bnd = _maps()
    return dict(seg=mask, sdf=sdf, bnd=bnd)


def _sample(prefixes=('gt', 'pred'), tasks=('seg', 'sdf', 'bnd'),
            img_path='img.png'):
    sample = SegDataSample(metainfo=dict(img_path=img_path))
    for prefix in prefixes:
        for task, value in _maps_by_task().items():
            if task in tasks:
                data = torch.from_numpy(value[None])
                sample.set_data({f'{prefix}_{task}': PixelData(data=data)})
    return sample


def _image():
    return np.full((H, W, 3), 128, np.uint8)


def _visualizer(name, **kwargs):
    return MultiTaskSegVisualizer(name=name, **kwargs)


def test_registered():
    assert VISUALIZERS.get('MultiTaskSegVisualizer') is MultiTaskSegVisualizer
    assert HOOKS.get('MultiTaskVisualizationHook') is \
        MultiTaskVisualizationHook


def test_writes_two_rows_of_four_panels(tmp_path):
    out = tmp_path / 'vis.png'
    _visualizer('vis_rows').add_datasample(
        'case', _image(), _sample(), out_file=str(out))
    drawn = cv2.imread(str(out))
    assert drawn.shape == (2 * H, 4 * W, 3)


def test_panel_contents():
    drawn = _visualizer('vis_content').draw_panels(_image(), _sample(),
                                                   draw_pred=False)
    bnd = _maps()[2]
    seg, sdf, bnd_panel = (drawn[:, W * i:W * (i + 1)] for i in (1, 2, 3))
    r, g = seg[..., 0].astype(int), seg[..., 1].astype(int)
    # Red overlay on the mask only.
    assert (r[32, 40] - g[32, 40]) > 50 and r[60, 75] == g[60, 75] == 128
    # Diverging colormap: blue inside, red outside.
    assert sdf[32, 40, 2] > sdf[32, 40, 0]
    assert sdf[60, 4, 0] > sdf[60, 4, 2]
    # Boundary pixels yellow, the rest dimmed.
    assert bnd[43, 30] and tuple(bnd_panel[43, 30]) == (255, 220, 0)
    assert tuple(bnd_panel[32, 40]) == (64, 64, 64)
    # Each panel carries a label box in its top-left corner.
    assert (drawn[2, 1] == 0).all() and (drawn[2, W + 1] == 0).all()


def test_rows_follow_draw_flags_and_fields():
    vis = _visualizer('vis_flags')
    assert vis.draw_panels(_image(), _sample(), draw_pred=False).shape == (
        H, 4 * W, 3)
    assert vis.draw_panels(_image(), _sample(prefixes=('gt', ))).shape == (
        H, 4 * W, 3)
    assert vis.draw_panels(_image(), None).shape == (H, W, 3)


def test_missing_task_in_one_row_keeps_columns():
    sample = _sample(prefixes=('gt', ))
    sample.pred_seg = sample.gt_seg
    drawn = _visualizer('vis_blank').draw_panels(_image(), sample)
    assert drawn.shape == (2 * H, 4 * W, 3)
    # pred sdf and pred bnd are blank grey panels.
    assert (drawn[H + 20:, 2 * W:] == 96).all()


def test_custom_task_kinds_and_resize():
    sample = SegDataSample()
    small = torch.zeros(1, H // 2, W // 2, dtype=torch.long)
    sample.gt_lesion = PixelData(data=small)
    sample.pred_lesion = PixelData(data=small)
    vis = _visualizer('vis_custom', task_kinds=dict(lesion='mask'))
    assert vis.draw_panels(_image(), sample).shape == (2 * H, 2 * W, 3)


def test_bad_task_kinds_and_unknown_fields():
    with pytest.raises(ValueError, match='heatmap'):
        _visualizer('vis_bad', task_kinds=dict(seg='heatmap'))
    sample = SegDataSample()
    sample.gt_lesion = PixelData(data=torch.zeros(1, H, W))
    with pytest.raises(ValueError, match='gt_lesion'):
        _visualizer('vis_unknown').draw_panels(_image(), sample)


def test_without_out_file_goes_to_backends(tmp_path):
    vis = _visualizer(
        'vis_backend',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    vis.add_datasample('case', _image(), _sample(), step=3)
    files = list(tmp_path.rglob('case_3.png'))
    assert len(files) == 1
    assert cv2.imread(str(files[0])).shape == (2 * H, 4 * W, 3)


def _write_images(tmp_path, names):
    paths = []
    for name in names:
        path = tmp_path / 'images' / f'{name}.png'
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), _image())
        paths.append(str(path))
    return paths


def _runner(tmp_path, vis):
    return SimpleNamespace(
        work_dir=str(tmp_path / 'work'),
        timestamp='20240101_000000',
        visualizer=vis,
        iter=7)


@pytest.mark.parametrize('absolute', [False, True])
def test_hook_writes_one_file_per_test_sample(tmp_path, absolute):
    paths = _write_images(tmp_path, ['a', 'b', 'c'])
    show_dir = str(tmp_path / 'abs_vis') if absolute else 'vis'
    hook = MultiTaskVisualizationHook(draw=True, show_dir=show_dir)
    runner = _runner(tmp_path, _visualizer(f'vis_hook_test_{absolute}'))
    outputs = [_sample(img_path=p) for p in paths]
    hook.after_test_iter(runner, 0, {}, outputs[:2])
    hook.after_test_iter(runner, 1, {}, outputs[2:])
    out_dir = (tmp_path / 'abs_vis' if absolute else tmp_path / 'work' /
               '20240101_000000' / 'vis')
    assert sorted(p.name for p in out_dir.iterdir()) == [
        'a.png', 'b.png', 'c.png'
    ]
    assert cv2.imread(str(out_dir / 'a.png')).shape == (2 * H, 4 * W, 3)


def test_hook_draws_nothing_when_draw_false(tmp_path):
    paths = _write_images(tmp_path, ['a'])
    hook = MultiTaskVisualizationHook(draw=False, show_dir='vis')
    runner = _runner(tmp_path, _visualizer('vis_hook_off'))
    hook.after_test_iter(runner, 0, {}, [_sample(img_path=paths[0])])
    hook.after_val_iter(runner, 0, {}, [_sample(img_path=paths[0])])
    assert not (tmp_path / 'work').exists()


def test_hook_val_draws_first_sample_every_interval(tmp_path):
    paths = _write_images(tmp_path, ['a', 'b'])
    vis = _visualizer(
        'vis_hook_val',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path / 'backend'))
    hook = MultiTaskVisualizationHook(draw=True, interval=2)
    runner = _runner(tmp_path, vis)
    outputs = [_sample(img_path=p) for p in paths]
    for batch_idx in range(3):
        hook.after_val_iter(runner, batch_idx, {}, outputs)
    drawn = sorted(p.name for p in (tmp_path / 'backend').rglob('*.png'))
    # Batches 0 and 2 draw the first sample ('a') at runner.iter 7.
    assert drawn == ['val_a_7.png']
