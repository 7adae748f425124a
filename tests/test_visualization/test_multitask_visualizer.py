from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import BaseLoop
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from scipy.ndimage import distance_transform_edt

from featsel.engine.hooks.visualization_hook import MultiTaskVisualizationHook
from featsel.evaluation import MultiTaskSegMetric
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


KINDS = dict(seg='mask', sdf='sdf', bnd='boundary')


def _sample(prefixes=('gt', 'pred'), tasks=('seg', 'sdf', 'bnd'),
            img_path='img.png'):
    """Ground truth and predictions; predictions carry their kind and the
    sample the task order, as the segmentor writes them."""
    sample = SegDataSample(metainfo=dict(img_path=img_path, tasks=tasks))
    for prefix in prefixes:
        for task, value in _maps_by_task().items():
            if task in tasks:
                meta = dict(kind=KINDS[task],
                            num_classes=2) if prefix == 'pred' else {}
                data = torch.from_numpy(value[None])
                sample.set_data({
                    f'{prefix}_{task}': PixelData(data=data, metainfo=meta)
                })
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
    vis = _visualizer('vis_flags', task_kinds=KINDS)
    assert vis.draw_panels(_image(), _sample(), draw_pred=False).shape == (
        H, 4 * W, 3)
    assert vis.draw_panels(_image(), _sample(prefixes=('gt', ))).shape == (
        H, 4 * W, 3)
    assert vis.draw_panels(_image(), None).shape == (H, W, 3)


def test_missing_task_in_one_row_keeps_columns():
    sample = _sample(prefixes=('gt', ))
    sample.pred_seg = sample.gt_seg
    drawn = _visualizer('vis_blank',
                        task_kinds=KINDS).draw_panels(_image(), sample)
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


@pytest.mark.parametrize('order', [('bnd', 'sdf'), ('sdf', 'bnd')])
def test_kinds_come_from_the_predictions_in_model_order(order):
    sample = _sample(tasks=order)
    drawn = _visualizer('vis_carried').draw_panels(_image(), sample)
    assert drawn.shape == (2 * H, 3 * W, 3)
    # the sdf panel (blue inside) sits where the model's order puts it
    col = 1 + order.index('sdf')
    sdf_panel = drawn[:H, col * W:(col + 1) * W]
    assert sdf_panel[32, 40, 2] > sdf_panel[32, 40, 0] + 50


def test_multiclass_mask_draws_one_colour_per_class():
    labels = np.zeros((H, W), np.int64)
    labels[10:30, 10:30], labels[40:60, 40:60] = 1, 2
    sample = SegDataSample()
    sample.pred_seg = PixelData(data=torch.from_numpy(labels[None]),
                                metainfo=dict(kind='mask', num_classes=3))
    panel = _visualizer('vis_classes').draw_panels(_image(), sample)[:, W:]
    one, two, bg = panel[20, 20], panel[50, 50], panel[62, 5]
    assert (bg == 128).all()
    assert (one != 128).any() and (two != 128).any()
    assert np.abs(one.astype(int) - two.astype(int)).sum() > 60


def test_check_model_tasks_names_the_key():
    from featsel.models.segmentors.multitask import TaskSpec
    from featsel.utils import ConfigError
    model_tasks = {n: TaskSpec(n, k, [dict(type='mmdet.L1Loss')])
                   for n, k in KINDS.items() if n != 'bnd'}
    _visualizer('vis_check_none').check_model_tasks(model_tasks)
    vis = _visualizer('vis_check', task_kinds=KINDS)
    with pytest.raises(ConfigError,
                       match=r"task_kinds.bnd names a task the model lacks"):
        vis.check_model_tasks(model_tasks)
    vis = _visualizer('vis_check_kind', task_kinds=dict(sdf='mask'))
    with pytest.raises(ConfigError, match=r"task_kinds.sdf is 'mask'"):
        vis.check_model_tasks(model_tasks)


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


class _Loop(BaseLoop):
    """A built loop holding an evaluator, as train()/test() leave them."""

    def __init__(self, runner, metric):
        super().__init__(runner, dataloader=[])
        self.evaluator = Evaluator([metric])

    def run(self):
        pass


def _checked_runner(tasks, metric, where='_val_loop', vis=None):
    from featsel.models.segmentors.multitask import TaskSpec
    runner = SimpleNamespace(
        model=SimpleNamespace(tasks={
            n: TaskSpec(n, k, [dict(type='mmdet.L1Loss')])
            for n, k in tasks.items()
        }),
        visualizer=vis or _visualizer(f'vis_runner_{len(tasks)}{where}'),
        _val_loop=None, _test_loop=None)
    setattr(runner, where, _Loop(runner, metric))
    return runner


@pytest.mark.parametrize('where', ['_val_loop', '_test_loop'])
def test_before_run_rejects_evaluator_tasks_the_model_lacks(where):
    from featsel.utils import ConfigError
    hook = MultiTaskVisualizationHook()
    kinds = dict(seg='mask', sdf='sdf')  # bnd removed from the model
    hook.before_run(_checked_runner(kinds, MultiTaskSegMetric(), where))
    key = where[1:-5] + '_evaluator'
    with pytest.raises(ConfigError, match=rf'{key}.tasks names task "bnd"'):
        hook.before_run(_checked_runner(
            kinds, MultiTaskSegMetric(tasks=['seg', 'bnd']), where))


def test_before_run_checks_the_visualizer_and_skips_other_models():
    from featsel.utils import ConfigError
    hook = MultiTaskVisualizationHook()
    vis = _visualizer('vis_runner_kinds', task_kinds=dict(lesion='mask'))
    with pytest.raises(ConfigError, match='task_kinds.lesion'):
        hook.before_run(_checked_runner(KINDS, MultiTaskSegMetric(),
                                        vis=vis))
    detector = SimpleNamespace(model=torch.nn.Linear(1, 1))
    hook.before_run(detector)  # no tasks: nothing to check


@pytest.mark.parametrize('options, needles', [
    (['val_evaluator.mask_task=mask'],
     ['val_evaluator.mask_task names task "mask"', "['bnd', 'sdf', 'seg']"]),
    (['model.tasks.bnd=None'], ['model.tasks.bnd is None', '_delete_']),
])
def test_train_stops_before_the_first_iteration(demo_root, tmp_path, options,
                                                needles):
    from tests.tool_runner import run_tool, tiny_options
    proc = run_tool(['tools/train.py', 'configs/baseline_multitask.py',
                     '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                     *tiny_options(demo_root, max_iters=2, interval=2),
                     *options], check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith('error')]
    assert len(errors) == 1 and 'Traceback' not in proc.stderr
    assert all(n in errors[0] for n in needles), errors[0]
    assert 'Iter(train)' not in proc.stdout + proc.stderr
