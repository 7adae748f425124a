"""RestorationMetric end to end on fake data samples: scores, summaries,
files (JSONL, JSON, PNG) and bad input."""
import hashlib
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger

from featsel.evaluation.lpips import write_random_lpips_weights
from featsel.evaluation.restoration_report import read_per_image
from featsel.registry import METRICS
from featsel.utils import ConfigError, DataError

SIZE = (3, 24, 32)


def _samples(n_per_task=3, tasks=('dehaze', 'derain'), seed=0):
    """Samples whose prediction is ``gt + offset``: PSNR = -20 log10(offset)
    exactly; the degraded input is ``gt + 0.2`` (about 14 dB)."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for t, task in enumerate(tasks):
        for i in range(n_per_task):
            gt = 0.1 + 0.6 * torch.rand(*SIZE, generator=g)
            offset = 0.01 * (1 + i + 2 * t)
            samples.append(dict(
                pred_img=gt + offset, gt_img=gt, lq_img=gt + 0.2, task=task,
                img_id=f'{task}_{i}', severity=0.1 * i, dataset='fake'))
    return samples


def _metric(tmp_path, **kwargs):
    kwargs.setdefault('n_resamples', 500)
    return METRICS.build(dict(type='RestorationMetric',
                              out_dir=str(tmp_path / 'out'), **kwargs))


def _evaluate(metric, samples):
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    return metric.evaluate(len(samples))


def test_scores_per_task_and_macro(tmp_path):
    samples = _samples()
    metrics = _evaluate(_metric(tmp_path), samples)
    dehaze = np.mean([-20 * np.log10(0.01 * k) for k in (1, 2, 3)])
    derain = np.mean([-20 * np.log10(0.01 * k) for k in (3, 4, 5)])
    assert metrics['dehaze/psnr'] == pytest.approx(dehaze, abs=1e-4)
    assert metrics['derain/psnr'] == pytest.approx(derain, abs=1e-4)
    assert metrics['psnr'] == pytest.approx((dehaze + derain) / 2, abs=1e-4)
    assert metrics['input/psnr'] == pytest.approx(-20 * np.log10(0.2),
                                                  abs=1e-4)
    assert 0 < metrics['ssim'] <= 1 and 'lpips' not in metrics


def test_files_follow_the_seed_schema(tmp_path):
    samples = _samples()
    metric = _metric(tmp_path, num_panels=2, run_info=dict(
        model='Dense-Unified', backbone='GlobalLocalRestorer',
        track='System', settings=dict(tile=512, overlap=64, blend='hann',
                                      tta=False),
        efficiency=dict(latency_ms=1.0)))
    _evaluate(metric, samples)
    out = tmp_path / 'out'
    records = read_per_image(str(out / 'per_image.jsonl'))
    assert len(records) == 6
    first = records[0]
    assert first['id'] == 'dehaze_0' and first['dataset'] == 'fake'
    assert set(first['metrics']) == {'psnr', 'ssim'}
    assert first['input_metrics']['psnr'] == pytest.approx(
        -20 * np.log10(0.2), abs=1e-5)  # float32 samples
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['model'] == 'Dense-Unified'
    assert summary['settings']['blend'] == 'hann'
    assert summary['efficiency'] == dict(latency_ms=1.0)
    assert set(summary['macro']) == {'psnr', 'ssim'}
    task = summary['per_task']['derain']
    assert task['n'] == 3
    assert task['psnr_ci'][0] < task['psnr'] < task['psnr_ci'][1]
    assert summary['macro']['psnr'] == pytest.approx(np.mean(
        [summary['per_task'][t]['psnr'] for t in ('dehaze', 'derain')]))
    assert summary['statistics']['n_resamples'] == 500
    assert summary['provenance']['commit']  # the tests run in a checkout
    panels = sorted(os.listdir(out / 'panels'))
    assert panels == ['dehaze_dehaze_0.png', 'dehaze_dehaze_1.png']
    picture = cv2.imread(str(out / 'panels' / panels[0]))
    assert picture.shape[0] == 256
    assert picture.shape[1] == 3 * round(256 * 32 / 24) + 4  # 2 gaps


def test_lpips_and_the_hmean(tmp_path):
    alexnet, lin = write_random_lpips_weights(str(tmp_path))
    samples = _samples()
    for sample in samples:
        sample['pred_img'] = sample['pred_img'].repeat(1, 2, 2)
        sample['gt_img'] = sample['gt_img'].repeat(1, 2, 2)
        sample['lq_img'] = sample['lq_img'].repeat(1, 2, 2)
    metric = _metric(tmp_path, lpips=dict(alexnet_path=alexnet,
                                          lin_path=lin))
    metrics = _evaluate(metric, samples)
    assert metrics['lpips'] > 0 and metrics['input/lpips'] > metrics['lpips']
    a = min(metrics['psnr'] / 50, 1)
    b = 1 - metrics['lpips']
    assert metrics['hmean_psnr_nlpips'] == pytest.approx(
        2 * a * b / (a + b), abs=1e-3)


def test_missing_lpips_weights_are_reported_and_skipped(tmp_path):
    with pytest.warns(UserWarning, match='nowhere.pth'):
        metric = _metric(tmp_path, lpips=dict(
            alexnet_path=str(tmp_path / 'nowhere.pth'),
            lin_path=str(tmp_path / 'lin.pth')))
    assert 'lpips' not in _evaluate(metric, _samples())


def test_crop_border_from_the_sample_or_fixed(tmp_path):
    samples = _samples(n_per_task=2, tasks=('dehaze', ))
    for sample in samples:
        sample['pred_img'][:, :2] = 1 - sample['gt_img'][:, :2]
        sample['crop_border'] = 2
    per_sample = _evaluate(_metric(tmp_path), samples)
    fixed = _evaluate(_metric(tmp_path, crop_border=0), samples)
    assert per_sample['psnr'] > fixed['psnr'] + 3


def test_degraded_input_read_from_img_path(tmp_path):
    samples = _samples(n_per_task=2, tasks=('desnow', ))
    for sample in samples:
        lq = sample.pop('lq_img').clamp(0, 1)
        path = str(tmp_path / f"{sample.pop('img_id')}.png")
        rgb = (lq.numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
        cv2.imwrite(path, rgb[..., ::-1])
        sample['img_path'] = path
    metrics = _evaluate(_metric(tmp_path), samples)
    # the 8-bit file is within half a grey level of gt + 0.2
    assert metrics['input/psnr'] == pytest.approx(-20 * np.log10(0.2),
                                                  abs=0.05)
    records = read_per_image(str(tmp_path / 'out' / 'per_image.jsonl'))
    assert [r['id'] for r in records] == ['desnow_0.png', 'desnow_1.png']


def test_weight_hash_of_the_checkpoint(tmp_path):
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'weights')
    metric = _metric(tmp_path, checkpoint=str(checkpoint))
    _evaluate(metric, _samples())
    summary = json.loads((tmp_path / 'out' / 'summary.json').read_text())
    assert summary['provenance']['weights_sha256'] == hashlib.sha256(
        b'weights').hexdigest()


def test_weight_hash_of_the_runners_load_from_when_not_training(tmp_path):
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'trained')
    hub = MessageHub.get_instance('restoration_metric_test_hub')
    hub.update_info('cfg', Config(dict(load_from=str(checkpoint))).pretty_text)
    metric = _metric(tmp_path)
    assert metric._checkpoint() == str(checkpoint)
    _evaluate(metric, _samples())
    summary = json.loads((tmp_path / 'out' / 'summary.json').read_text())
    assert summary['provenance']['weights_sha256'] == hashlib.sha256(
        b'trained').hexdigest()
    # while training, load_from holds the initial weights, not these
    hub.update_info('max_iters', 10)
    assert metric._checkpoint() is None


def test_default_out_dir_is_the_runs_log_folder(tmp_path):
    log_dir = tmp_path / 'work' / '20240101_000000'
    log_dir.mkdir(parents=True)
    MMLogger.get_instance('restoration_metric_test',
                          log_file=str(log_dir / '20240101_000000.log'))
    metric = METRICS.build(dict(type='RestorationMetric', n_resamples=100,
                                num_panels=1))
    _evaluate(metric, _samples())
    out = log_dir / 'restoration'
    assert osp.isfile(out / 'per_image.jsonl')
    assert osp.isfile(out / 'summary.json')
    assert len(os.listdir(out / 'panels')) == 1


@pytest.mark.parametrize('drop,match', [
    ('pred_img', 'pred_img'), ('task', 'task'), ('img_id', 'img_id')])
def test_missing_sample_fields_are_named(tmp_path, drop, match):
    sample = _samples(n_per_task=1, tasks=('dehaze', ))[0]
    del sample[drop]
    with pytest.raises(DataError, match=match):
        _metric(tmp_path).process({}, [sample])


def test_bad_shapes_and_config(tmp_path):
    sample = _samples(n_per_task=1, tasks=('dehaze', ))[0]
    sample['gt_img'] = sample['gt_img'][:, :20]
    with pytest.raises(DataError, match='differ in shape'):
        _metric(tmp_path).process({}, [sample])
    with pytest.raises(ConfigError, match='latency'):
        _metric(tmp_path, run_info=dict(latency=1))
    with pytest.raises(ConfigError, match='alexnet_path'):
        _metric(tmp_path, lpips=dict(path='x'))
