"""Bad input stops the tools with one clear line naming the key or file."""
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from tests.tool_runner import run_tool, tiny_options


def _train(data_root, work_dir, *extra):
    return run_tool(['tools/train.py', 'configs/baseline_multitask.py',
                     '--work-dir', work_dir, '--cfg-options',
                     *tiny_options(data_root, max_iters=2, interval=2),
                     *extra], check=False)


def _assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith('error')]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize('options, needles', [
    (['model.encoder.type=NoSuchEncoder'], ['NoSuchEncoder']),
    (['model.decoder.in_channels=[4,8,16,32,99]'],
     ['model.decoder.in_channels', '[4, 8, 16, 32, 64]']),
    (['model.tasks.edge.kind=boundary',
      'model.tasks.edge.loss.type=mmdet.L1Loss'], ['"edge"', 'gt_edge']),
    (['model.tasks.seg.kind=masks'], ['model.tasks.seg.kind']),
    (['model.encoder.base_chanels=4'], ['UNetEncoder', 'base_chanels']),
])
def test_config_errors(demo_root, tmp_path, options, needles):
    proc = _train(demo_root, str(tmp_path / 'w'), *options)
    _assert_one_line_error(proc, *needles)


def test_missing_data_path_names_it(tmp_path):
    missing = str(tmp_path / 'nowhere')
    proc = _train(missing, str(tmp_path / 'w'))
    _assert_one_line_error(proc, osp.join(missing, 'img_dir', 'train'),
                           'make_demo_data.py')


def test_missing_config_names_it(tmp_path):
    proc = run_tool(['tools/train.py', 'configs/nope.py'], check=False)
    _assert_one_line_error(proc, 'configs/nope.py')


@pytest.mark.parametrize('workers', [0, 2])
def test_non_binary_mask_names_the_file(demo_root, tmp_path, workers):
    root = str(tmp_path / 'data')
    shutil.copytree(demo_root, root)
    bad = osp.join(root, 'ann_dir', 'train', sorted(
        open(osp.join(root, 'splits', 'train.txt')).read().split())[0]
        + '.png')
    mask = cv2.imread(bad, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(bad, (mask * 255).astype(np.uint8))
    proc = _train(root, str(tmp_path / 'w'),
                  'train_dataloader.sampler.shuffle=False',
                  f'train_dataloader.num_workers={workers}',
                  f'train_dataloader.persistent_workers={bool(workers)}',
                  'train_dataloader.batch_size=16')
    _assert_one_line_error(proc, bad, 'binary', '255')


def test_test_tool_rejects_bad_out_before_building(tmp_path):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    proc = run_tool(['tools/test.py', 'configs/baseline_multitask.py',
                     str(ckpt), '--out', 'preds.json'], check=False)
    _assert_one_line_error(proc, '--out', 'preds.json')


@pytest.mark.parametrize('option,needles', [
    ('model.neck.pruner.keep_ratio=1.5', ('keep_ratio', '1.5')),
    ('model.decoder.moe_cfg.top_k=5', ('top_k', '5')),
    ('model.neck.pruner.keep_ration=0.5', ('LearnableTokenPruner',
                                           'keep_ration')),
])
def test_detector_config_errors(tmp_path, option, needles):
    proc = run_tool(['tools/train.py', 'configs/dset/dset_r18.py',
                     '--work-dir', str(tmp_path), '--cfg-options', option],
                    check=False)
    _assert_one_line_error(proc, *needles)
