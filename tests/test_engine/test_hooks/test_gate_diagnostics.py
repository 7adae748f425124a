"""GateDiagnosticsHook and GateMapVisualizationHook: the logged statistics
on hand-made gate records, the pictures on a tiny model and data set, and
both hooks inside a real (two-iteration) training run."""
import glob
import json
import math
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner
from torch import nn

from featsel.engine.hooks import (GateDiagnosticsHook,
                                  GateMapVisualizationHook,
                                  collect_gate_records, draw_gate_maps,
                                  gate_statistics, group_by_task)
from featsel.models import GateRecord, Plugin
from featsel.registry import DATASETS, HOOKS, MODELS
from tests.conftest import REPO_ROOT
from tests.test_models.helpers import tiny_segmentor_cfg

TASKS = ('seg', 'sdf', 'bnd')


class ListLogger:
    """Collects warnings like ``runner.logger.warning``."""

    def __init__(self) -> None:
        self.warnings = []

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)


class GatedPart(Plugin, nn.Module):
    """A selector/decoder stand-in returning fixed gate records."""

    def __init__(self, records) -> None:
        super().__init__()
        self.fixed = records

    def records(self):
        return self.fixed


class GatedModel(nn.Module):

    def __init__(self, selector=None, decoder=None) -> None:
        super().__init__()
        self.selector = GatedPart(selector or {})
        self.decoder = GatedPart(decoder or {})


def fake_runner(model, name: str, iteration: int = 0) -> SimpleNamespace:
    return SimpleNamespace(model=model, iter=iteration, logger=ListLogger(),
                           message_hub=MessageHub.get_instance(name))


def scalar(runner, key: str) -> float:
    return runner.message_hub.get_scalar(f'train/gates/{key}').current()


def gate_keys(runner) -> list:
    return sorted(k for k in runner.message_hub.log_scalars
                  if k.startswith('train/gates/'))


def one_hot(expert: int, num: int = 4, shape=(2, 3, 3)) -> torch.Tensor:
    alpha = torch.zeros(shape[0], num, *shape[1:])
    alpha[:, expert] = 1
    return alpha


# ---------------------------------------------------------------------- #
# GateDiagnosticsHook
# ---------------------------------------------------------------------- #
def test_uniform_gate_has_equal_utilisation_and_entropy_log_k():
    alpha = torch.full((2, 4, 5, 5), 0.25, requires_grad=True)
    runner = fake_runner(
        GatedModel({'f5/seg': GateRecord('softmax', alpha)}), 'uniform')
    GateDiagnosticsHook(interval=1).after_train_iter(runner, 0)
    assert gate_keys(runner) == [
        'train/gates/f5/seg/entropy',
        *[f'train/gates/f5/seg/util_e{k}' for k in range(4)]]
    for k in range(4):
        assert scalar(runner, f'f5/seg/util_e{k}') == pytest.approx(0.25)
    assert scalar(runner, 'f5/seg/entropy') == pytest.approx(math.log(4))
    assert runner.logger.warnings == []


def test_utilisation_averages_batch_positions_and_channels():
    # (B, K, C, H, W): expert 0 takes the whole weight on half of the
    # elements, the two experts share it evenly on the other half
    alpha = torch.full((2, 2, 3, 2, 2), 0.5)
    alpha[0, 0], alpha[0, 1] = 1.0, 0.0
    runner = fake_runner(
        GatedModel(decoder={'fused/sdf': GateRecord('softmax', alpha)}),
        'channels')
    GateDiagnosticsHook(interval=1).after_train_iter(runner, 0)
    assert scalar(runner, 'fused/sdf/util_e0') == pytest.approx(0.75)
    assert scalar(runner, 'fused/sdf/util_e1') == pytest.approx(0.25)
    # entropy 0 on the one-hot half, log 2 on the other
    assert scalar(runner, 'fused/sdf/entropy') == pytest.approx(
        math.log(2) / 2)


def binary_entropy(p: float) -> float:
    return -sum(q * math.log(q) for q in (p, 1 - p) if q > 0)


def test_sigmoid_record_logs_mean_min_saturation_and_entropy():
    w = torch.tensor([0.2, 0.4, 0.6, 1.0]).view(1, 1, 2, 2).repeat(2, 3, 1, 1)
    runner = fake_runner(
        GatedModel({'f1/seg': GateRecord('sigmoid', w)}), 'sigmoid')
    GateDiagnosticsHook(interval=1).after_train_iter(runner, 0)
    assert gate_keys(runner) == [
        f'train/gates/f1/seg/{k}'
        for k in ('bin_entropy', 'sat_frac', 'w_mean', 'w_min')]
    assert scalar(runner, 'f1/seg/w_mean') == pytest.approx(0.55)
    assert scalar(runner, 'f1/seg/w_min') == pytest.approx(0.2)
    # one of the four values (1.0) lies within 0.05 of 0 or 1
    assert scalar(runner, 'f1/seg/sat_frac') == pytest.approx(0.25)
    expected = sum(binary_entropy(p) for p in (0.2, 0.4, 0.6, 1.0)) / 4
    assert scalar(runner, 'f1/seg/bin_entropy') == pytest.approx(
        expected, rel=1e-5)
    assert runner.logger.warnings == []  # 25 % saturated < 90 %


def test_saturated_sigmoid_gate_warns_on_entering_and_after_recovering():
    """A gate shut almost everywhere (w = 0.01) is saturated: it warns,
    stays quiet while saturated, is quiet once recovered (w = 0.5), and
    warns again when it saturates anew."""
    records = {'f2/seg': GateRecord('sigmoid', torch.full((1, 4, 3, 3),
                                                          0.01))}
    runner = fake_runner(GatedModel(records), 'saturated')
    hook = GateDiagnosticsHook(interval=1, collapse_threshold=0.9)
    counts = []
    for it, w in enumerate((0.01, 0.01, 0.5, 0.5, 0.99)):
        records['f2/seg'] = GateRecord('sigmoid',
                                       torch.full((1, 4, 3, 3), w))
        runner.iter = it
        hook.after_train_iter(runner, it)
        counts.append(len(runner.logger.warnings))
    assert counts == [1, 1, 1, 1, 2]
    assert 'sigmoid gate "f2/seg" has saturated' in runner.logger.warnings[0]
    assert '100.0%' in runner.logger.warnings[1]
    assert scalar(runner, 'f2/seg/bin_entropy') == pytest.approx(
        binary_entropy(0.99), rel=1e-4)


def test_collapse_warns_once_per_record():
    records = {
        'f5/seg': GateRecord('softmax', one_hot(2)),
        'f5/sdf': GateRecord('softmax', torch.full((2, 4, 3, 3), 0.25)),
    }
    runner = fake_runner(GatedModel(records), 'collapse')
    hook = GateDiagnosticsHook(interval=1, collapse_threshold=0.9)
    for it in range(3):
        runner.iter = it
        hook.after_train_iter(runner, it)
    assert scalar(runner, 'f5/seg/util_e2') == pytest.approx(1.0)
    assert scalar(runner, 'f5/seg/entropy') == pytest.approx(0.0, abs=1e-6)
    assert len(runner.logger.warnings) == 1
    assert '"f5/seg"' in runner.logger.warnings[0]
    assert 'expert 2' in runner.logger.warnings[0]
    # another gate collapsing later gets its own (single) warning
    records['f5/sdf'] = GateRecord('softmax', one_hot(0))
    for it in range(3, 5):
        runner.iter = it
        hook.after_train_iter(runner, it)
    assert len(runner.logger.warnings) == 2
    assert '"f5/sdf"' in runner.logger.warnings[1]


def test_below_threshold_does_not_warn():
    alpha = torch.zeros(1, 2, 4, 4)
    alpha[:, 0], alpha[:, 1] = 0.85, 0.15
    runner = fake_runner(
        GatedModel({'f4/bnd': GateRecord('softmax', alpha)}), 'no_collapse')
    GateDiagnosticsHook(interval=1,
                        collapse_threshold=0.9).after_train_iter(runner, 0)
    assert runner.logger.warnings == []


def test_logs_every_interval_iterations():
    runner = fake_runner(
        GatedModel({'f1/seg': GateRecord('sigmoid', torch.ones(1, 1, 2, 2))}),
        'interval')
    hook = GateDiagnosticsHook(interval=3)
    logged = []
    for it in range(7):
        runner.iter = it
        hook.after_train_iter(runner, it)
        buffer = runner.message_hub.log_scalars.get('train/gates/f1/seg/w_min')
        logged.append(0 if buffer is None else len(buffer.data[0]))
    # after iterations 3 and 6 (runner.iter 2 and 5)
    assert logged == [0, 0, 1, 1, 1, 2, 2]


def test_models_without_gates_are_skipped():
    runner = fake_runner(nn.Linear(2, 2), 'no_gates_linear')
    GateDiagnosticsHook(interval=1).after_train_iter(runner, 0)
    assert gate_keys(runner) == []
    baseline = MODELS.build(tiny_segmentor_cfg())  # identity selector
    baseline(torch.rand(1, 3, 16, 16), mode='tensor')
    runner = fake_runner(baseline, 'no_gates_baseline')
    GateDiagnosticsHook(interval=1).after_train_iter(runner, 0)
    assert gate_keys(runner) == []


def test_wrapped_model_is_unwrapped_and_names_kept_apart():
    model = GatedModel(
        {'f1/seg': GateRecord('sigmoid', torch.ones(1, 1, 2, 2))},
        {'f1/seg': GateRecord('softmax', torch.full((1, 2, 2, 2), 0.5))})
    records = collect_gate_records(nn.DataParallel(model))
    assert list(records) == ['f1/seg', 'decoder.f1/seg']
    assert records['decoder.f1/seg'].kind == 'softmax'


def test_gate_statistics_rejects_unknown_kinds_and_bad_arguments():
    with pytest.raises(ValueError, match='relu'):
        gate_statistics(GateRecord('relu', torch.ones(1, 2, 2, 2)))
    with pytest.raises(ValueError, match='interval'):
        GateDiagnosticsHook(interval=0)
    with pytest.raises(ValueError, match='collapse_threshold'):
        GateDiagnosticsHook(collapse_threshold=0)
    with pytest.raises(ValueError, match='num_images'):
        GateMapVisualizationHook(num_images=0)


# ---------------------------------------------------------------------- #
# Gate map pictures
# ---------------------------------------------------------------------- #
def test_draw_gate_maps_layout_and_content():
    image = np.full((24, 24, 3), 200, np.uint8)
    alpha = torch.zeros(1, 3, 8, 8)
    alpha[:, 1] = 1.0  # expert 1 everywhere
    records = {
        'f1': GateRecord('sigmoid', torch.full((1, 4, 12, 12), 0.5)),
        'f2': GateRecord('softmax', alpha),
        'f3': GateRecord('softmax', torch.full((1, 5, 6, 4, 4), 0.2)),
        'f4': GateRecord('softmax', torch.full((1, 2, 1, 1), 0.5)),
    }
    drawn = draw_gate_maps(image, records, input_size=(32, 32),
                           panel_size=64)
    assert drawn.shape == (128, 5 * 64, 3) and drawn.dtype == np.uint8
    # f1 bottom panel: the image scaled by w = 0.5
    assert drawn[100, 64 + 40].tolist() == [100, 100, 100]
    # f2 top panel: the colour of expert 1 mixed with the grey image
    orange = np.array([255, 127, 14])  # tab10 colour 1
    expected = (0.7 * orange + 0.3 * 200).astype(int)
    np.testing.assert_allclose(drawn[30, 128 + 40], expected, atol=2)


def test_draw_gate_maps_crops_the_padding():
    """Gates over a padded input: only the image's part is drawn."""
    image = np.zeros((16, 16, 3), np.uint8)
    w = torch.zeros(1, 1, 32, 32)
    w[..., :16, :16] = 1.0  # weight 1 on the image, 0 on the padding
    drawn = draw_gate_maps(image, {'f1': GateRecord('sigmoid', w)},
                           input_size=(32, 32), panel_size=32)
    top = drawn[8:30, 34:62]  # inside the f1 mean-weight panel
    yellow = [253, 231, 36]  # viridis(1)
    assert np.abs(top.reshape(-1, 3) - yellow).max() <= 2


def test_group_by_task():
    records = {name: GateRecord('sigmoid', torch.ones(1, 1, 1, 1))
               for name in ('f1/seg', 'f1/sdf', 'f2/seg', 'fused/seg')}
    grouped = group_by_task(records)
    assert list(grouped) == ['seg', 'sdf']
    assert list(grouped['seg']) == ['f1', 'f2', 'fused']


def _tiny_gated_model() -> nn.Module:
    """TaskDW weights (sigmoid) at every scale, scale gates (softmax) in
    the decoder; inputs padded to a multiple of 24 (64 -> 72 px)."""
    return MODELS.build(tiny_segmentor_cfg(
        selector=dict(type='TaskDWSelector'),
        decoder=dict(type='PatchGateDecoder', channels=4),
        data_preprocessor=dict(type='ImgDataPreprocessor',
                               mean=[128.0] * 3, std=[64.0] * 3,
                               bgr_to_rgb=True, pad_size_divisor=24)))


def _val_dataset(root: str):
    data_cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                 'demo_lesions.py'))
    dataset = dict(data_cfg.val_dataloader.dataset)
    dataset['data_root'] = root
    return DATASETS.build(dataset)


def test_gate_map_hook_writes_one_picture_per_image_and_task(
        demo_root, tmp_path):
    torch.manual_seed(0)
    model = _tiny_gated_model().train()
    dataset = _val_dataset(demo_root)
    images = []
    runner = SimpleNamespace(
        model=model, val_dataloader=SimpleNamespace(dataset=dataset),
        work_dir=str(tmp_path), timestamp='20260101_000000', iter=30,
        visualizer=SimpleNamespace(
            add_image=lambda name, image, step: images.append((name, step))))
    hook = HOOKS.build(dict(type='GateMapVisualizationHook', num_images=2,
                            panel_size=48, add_to_backends=True))
    hook.after_val_epoch(runner, {'seg/dice': 0.5})

    assert model.training  # the train mode is restored
    out_dir = tmp_path / '20260101_000000' / 'gate_maps' / 'iter_30'
    stems = [osp.splitext(osp.basename(dataset[i]['data_samples'].img_path))
             [0] for i in range(2)]
    expected = sorted(f'{s}_{t}.png' for s in stems for t in TASKS)
    assert sorted(p.name for p in out_dir.iterdir()) == expected
    picture = cv2.imread(str(out_dir / expected[0]))
    # image + 3 TaskDW scales + the fused scale gate, two rows
    assert picture.shape == (96, 5 * 48, 3)
    assert sorted(images) == sorted(
        (f'gate_maps_{s}_{t}', 30) for s in stems for t in TASKS)


def test_gate_map_hook_skips_models_without_gates(demo_root, tmp_path):
    runner = SimpleNamespace(
        model=MODELS.build(tiny_segmentor_cfg(
            data_preprocessor=dict(type='ImgDataPreprocessor'))),
        val_dataloader=SimpleNamespace(dataset=_val_dataset(demo_root)),
        work_dir=str(tmp_path), timestamp='ts', iter=1)
    GateMapVisualizationHook().after_val_epoch(runner)
    assert not (tmp_path / 'ts' / 'gate_maps').exists()


# ---------------------------------------------------------------------- #
# Both hooks in a training run
# ---------------------------------------------------------------------- #
def test_hooks_in_a_training_run(demo_root, tmp_path):
    """The logger prints the gate scalars, the local backend stores them,
    and the pictures of the evaluation are written."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs',
                                   'baseline_multitask.py'))
    cfg.model = tiny_segmentor_cfg(
        selector=dict(type='DepthwiseExpertSelector',
                      experts=[dict(type='DWConvExpert')] * 2,
                      gating=dict(type='ConvGating')),
        data_preprocessor=cfg.model.data_preprocessor)
    cfg.merge_from_dict({
        'work_dir': str(tmp_path),
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 100,
        'param_scheduler': [],
        'custom_hooks': [
            dict(type='GateDiagnosticsHook', interval=1),
            dict(type='GateMapVisualizationHook', num_images=1,
                 panel_size=32),
        ],
    })
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(num_workers=0, persistent_workers=False, batch_size=2)
        loader.dataset.data_root = demo_root
    runner = Runner.from_cfg(cfg)
    runner.train()

    log_dir = osp.join(str(tmp_path), runner.timestamp)
    with open(osp.join(log_dir, 'vis_data', 'scalars.json')) as f:
        logged = [json.loads(line) for line in f]
    train = [entry for entry in logged if 'loss' in entry]
    assert len(train) == 2
    for entry in train:
        for task in TASKS:
            for scale in ('f1', 'f3'):
                util = [entry[f'gates/{scale}/{task}/util_e{k}']
                        for k in range(2)]
                assert sum(util) == pytest.approx(1, abs=1e-4)
                assert 0 <= entry[f'gates/{scale}/{task}/entropy'] <= \
                    math.log(2) + 1e-6
    with open(glob.glob(osp.join(log_dir, '*.log'))[0]) as f:
        assert 'gates/f1/seg/util_e0' in f.read()
    pictures = glob.glob(osp.join(log_dir, 'gate_maps', 'iter_2', '*.png'))
    assert len(pictures) == len(TASKS)
