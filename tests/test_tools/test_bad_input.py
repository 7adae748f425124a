"""Bad input stops the tools with one clear line naming the key or file."""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import REPO_ROOT
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
    _assert_one_line_error(proc, f'"{missing}"', 'make_demo_data.py')


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


# --- checkpoints -----------------------------------------------------------

class _WritesAFile:
    """Unpickling this runs ``open(path, 'w')``: code from the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture(scope='module')
def trained(demo_root, tmp_path_factory):
    """A work dir trained 2 iterations (checkpoint iter_2.pth), with the
    umask 022 of a usual shell."""
    work_dir = str(tmp_path_factory.mktemp('trained'))
    old = os.umask(0o022)
    try:
        proc = _train(demo_root, work_dir)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return work_dir


def _test(data_root, work_dir, ckpt, *extra):
    return run_tool(['tools/test.py', 'configs/baseline_multitask.py', ckpt,
                     '--work-dir', work_dir, '--cfg-options',
                     *tiny_options(data_root, max_iters=2, interval=2),
                     *extra], check=False)


def test_files_follow_the_umask(trained):
    for name in ('iter_2.pth', 'last_checkpoint', 'eval_results.json'):
        mode = os.stat(osp.join(trained, name)).st_mode & 0o777
        assert oct(mode) == oct(0o644), name


def test_checkpoint_running_code_is_refused(demo_root, trained, tmp_path):
    ckpt = torch.load(osp.join(trained, 'iter_2.pth'), weights_only=False)
    marker = tmp_path / 'marker'
    ckpt['meta']['note'] = _WritesAFile(str(marker))
    evil = str(tmp_path / 'evil.pth')
    torch.save(ckpt, evil)
    proc = _test(demo_root, str(tmp_path / 'w'), evil)
    _assert_one_line_error(proc, evil, '--trust-checkpoint')
    assert not marker.exists()
    proc = _test(demo_root, str(tmp_path / 'w'), evil, '--trust-checkpoint')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert marker.exists()


def test_truncated_checkpoint_names_the_file(demo_root, trained, tmp_path):
    bad = str(tmp_path / 'cut.pth')
    with open(osp.join(trained, 'iter_2.pth'), 'rb') as f:
        data = f.read()
    with open(bad, 'wb') as f:
        f.write(data[:len(data) // 3])
    proc = _test(demo_root, str(tmp_path / 'w'), bad)
    _assert_one_line_error(proc, bad, 'truncated')


def test_checkpoint_of_another_width(demo_root, trained, tmp_path):
    ckpt = osp.join(trained, 'iter_2.pth')
    wider = 'model.encoder.base_channels=8'
    proc = _test(demo_root, str(tmp_path / 'w'), ckpt, wider)
    _assert_one_line_error(proc, ckpt, 'does not fit', '--non-strict')
    proc = _test(demo_root, str(tmp_path / 'w'), ckpt, wider,
                 '--non-strict')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'model weights fit; missing 0, unexpected 0, shape mismatched' \
        in proc.stdout
    with open(osp.join(str(tmp_path / 'w'), 'eval_results.json')) as f:
        assert json.load(f)['last_test_checkpoint'] == ckpt


def test_resume_of_another_width_fails_before_training(demo_root, trained,
                                                       tmp_path):
    ckpt = osp.join(trained, 'iter_2.pth')
    proc = _train(demo_root, str(tmp_path / 'w'), '--resume', ckpt,
                  '--cfg-options', 'model.encoder.base_channels=8',
                  'train_cfg.max_iters=4')
    _assert_one_line_error(proc, ckpt, 'resuming needs')
    assert 'Iter(train)' not in proc.stdout


def test_nan_stops_before_a_checkpoint(demo_root, trained, tmp_path):
    work_dir = str(tmp_path / 'nan')
    shutil.copytree(trained, work_dir)
    before = {n: open(osp.join(work_dir, n), 'rb').read()
              for n in ('iter_2.pth', 'last_checkpoint')}
    # a zero std turns every pixel into inf / nan
    proc = _train(demo_root, work_dir, '--resume', '--cfg-options',
                  'train_cfg.max_iters=4', 'param_scheduler.1.end=4',
                  'model.data_preprocessor.std=[0,0,0]',
                  'default_hooks.checkpoint.interval=1')
    _assert_one_line_error(proc, 'non-finite loss at iteration 3',
                           osp.join(demo_root, 'img_dir', 'train'), '.png')
    assert not osp.exists(osp.join(work_dir, 'iter_3.pth'))
    for name, data in before.items():
        assert open(osp.join(work_dir, name), 'rb').read() == data


# --- configs and the command line ------------------------------------------

@pytest.mark.parametrize('text, needles', [
    ('model = dict(\n    a=1,,\n)\n', ['bad.py', 'line 2']),
    ("_base_ = ['./no_such_base.py']\n", ['bad.py', 'no_such_base.py',
                                          '_base_']),
])
def test_broken_config_file_is_named(tmp_path, text, needles):
    path = tmp_path / 'bad.py'
    path.write_text(text)
    proc = run_tool(['tools/train.py', str(path)], check=False)
    _assert_one_line_error(proc, *needles)


@pytest.mark.parametrize('config, option, needles', [
    ('baseline_multitask', 'train_cfg.max_iters=abc',
     ['train_cfg.max_iters', 'whole number']),
    ('dset/dset_r18', 'train_dataloader.batch_size=2.5',
     ['train_dataloader.batch_size', 'whole number']),
    ('dset/dset_r18', 'model.neck.pruner.keep_ratio=abc',
     ['model.neck.pruner.keep_ratio', 'a number']),
    ('dset/dset_r18', 'train_cfg.max_epochs',
     ['"train_cfg.max_epochs" has no "="']),
])
def test_option_of_the_wrong_type_is_named(tmp_path, config, option,
                                           needles):
    proc = run_tool(['tools/train.py', f'configs/{config}.py',
                     '--work-dir', str(tmp_path), '--cfg-options', option],
                    check=False)
    _assert_one_line_error(proc, *needles)


def test_unwritable_work_dir_is_named(demo_root, tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    work_dir = str(blocker / 'w')
    proc = _train(demo_root, work_dir)
    _assert_one_line_error(proc, work_dir, '--work-dir')


def test_os_errors_print_their_reason_and_file():
    from featsel.utils.cli import _message
    err = FileNotFoundError(2, 'No such file or directory', 'x/base.py')
    assert _message(err) == 'No such file or directory: "x/base.py"'
    assert _message(OSError(28, 'No space left on device')) == \
        'No space left on device'


def test_dist_train_with_its_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = dict(os.environ, PORT=str(port))
        proc = subprocess.run(
            ['bash', 'tools/dist_train.sh', 'configs/baseline_multitask.py',
             '2', '--work-dir', str(tmp_path)], cwd=REPO_ROOT, env=env,
            capture_output=True, text=True, timeout=60)
    _assert_one_line_error(proc, f'port {port} is in use', 'PORT=')
