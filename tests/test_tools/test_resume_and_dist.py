"""A killed run resumes with nothing lost; a 2-process CPU run trains."""
import glob
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

from tests.conftest import REPO_ROOT
from tests.tool_runner import run_tool, tiny_options


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
