"""A killed run resumes with nothing lost; a 2-process CPU run trains."""
import glob
import json
import os
import os.path as osp
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from tests.conftest import REPO_ROOT
from tests.tool_runner import det_tiny_options, run_tool, tiny_options


def _train_cmd(work_dir, demo_root, max_iters, interval):
    return [sys.executable, 'tools/train.py', 'configs/baseline_multitask.py',
            '--work-dir', work_dir, '--cfg-options',
            *tiny_options(demo_root, max_iters=max_iters, interval=interval)]


def test_killed_run_resumes_from_last_checkpoint(demo_root, tmp_path):
    work_dir = str(tmp_path / 'resume')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        _train_cmd(work_dir, demo_root, max_iters=400, interval=4),
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while not osp.isfile(osp.join(work_dir, 'iter_8.pth')):
            assert proc.poll() is None, 'training ended before the kill'
            assert time.time() < deadline, 'no checkpoint appeared'
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up: a crash
        proc.wait()
    first_log = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert len(first_log) == 1
    first_log_text = open(first_log[0]).read()
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    last_iter = int(osp.basename(last)[len('iter_'):-len('.pth')])
    assert last_iter >= 8
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        before = json.load(f)['history']

    run_tool(_train_cmd(work_dir, demo_root, max_iters=last_iter + 4,
                        interval=4)[1:] + ['--resume'])
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    assert len(logs) == 2
    assert open(first_log[0]).read() == first_log_text  # old log untouched
    resumed = open(logs[-1]).read()
    assert 'resumed' in resumed.lower()
    assert f'Iter(train) [{last_iter + 1}/' in resumed
    assert 'Iter(train) [1/' not in resumed
    assert osp.isfile(osp.join(work_dir, f'iter_{last_iter + 4}.pth'))
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        after = json.load(f)['history']
    assert after[:len(before)] == before  # earlier results kept
    assert after[-1]['iter'] == last_iter + 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_cpu_training(demo_root, tmp_path):
    work_dir = str(tmp_path / 'dist')
    env_port = str(_free_port())
    os.environ['PORT'] = env_port
    try:
        run_tool(['bash', 'tools/dist_train.sh',
                  'configs/baseline_multitask.py', '2', '--work-dir',
                  work_dir, '--cfg-options',
                  *tiny_options(demo_root, max_iters=2, interval=2)],
                 timeout=400)
    finally:
        os.environ.pop('PORT')
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert "backend='gloo'" in log
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))


def test_resume_in_a_copied_work_dir_uses_its_own_checkpoint(demo_root,
                                                             tmp_path):
    first = str(tmp_path / 'first')
    run_tool(_train_cmd(first, demo_root, max_iters=2, interval=2)[1:])
    copy = str(tmp_path / 'copy')
    shutil.copytree(first, copy)
    os.remove(osp.join(first, 'iter_2.pth'))  # the original is gone
    stale = osp.join(copy, 'tmpk9x2.part')  # left by a kill -9 mid-write
    open(stale, 'wb').close()
    proc = run_tool(_train_cmd(copy, demo_root, max_iters=4,
                               interval=2)[1:] + ['--resume'])
    fit = re.search(re.escape(osp.join(copy, 'iter_2.pth')) +
                    r'": (\d+) of (\d+) model weights fit', proc.stdout)
    assert fit and fit.group(1) == fit.group(2)
    assert 'resumed epoch: 0, iter: 2' in proc.stdout
    assert not osp.exists(stale)
    with open(osp.join(copy, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(copy, 'iter_4.pth')


def _losses(work_dir):
    """``{step: loss}`` of every run logged in a work dir."""
    losses = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record:
                    losses[record['step']] = record['loss']
    return losses


def test_detector_resume_is_exact(demo_shapes_root, tmp_path):
    """An RT-DETR run resumed from its epoch-1 checkpoint logs the same
    epoch-2 losses, bit for bit, as the uninterrupted run (random flips,
    shuffling and denoising noise draw from the restored random state)."""
    whole = str(tmp_path / 'whole')
    cmd = ['tools/train.py', 'configs/dset/rtdetr_r18.py', '--cfg-options',
           *det_tiny_options(demo_shapes_root, 2)]
    run_tool(cmd + ['--work-dir', whole])
    resumed = str(tmp_path / 'resumed')
    run_tool(cmd + ['--work-dir', resumed, '--resume',
                    osp.join(whole, 'epoch_1.pth')])
    expected, got = _losses(whole), _losses(resumed)
    assert sorted(got) == [5, 6, 7, 8]  # 4 iterations per epoch
    assert {step: expected[step] for step in got} == got
