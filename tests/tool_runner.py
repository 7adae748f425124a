"""Run featsel's command-line tools in fresh processes, on tiny settings."""
import os
import subprocess
import sys
from typing import List, Sequence

from tests.conftest import REPO_ROOT


def tiny_options(data_root: str, max_iters: int = 4, interval: int = 2,
                 batch_size: int = 2) -> List[str]:
    """``--cfg-options`` that shrink an S1 config to seconds on a CPU."""
    opts = [
        f'train_cfg.max_iters={max_iters}',
        f'train_cfg.val_interval={interval}',
        f'default_hooks.checkpoint.interval={interval}',
        'default_hooks.logger.interval=1',
        'model.encoder.base_channels=4',
        'model.head.channels=4',
        'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1',
        f'param_scheduler.1.end={max_iters}',
    ]
    for split in ('train', 'val', 'test'):
        opts += [
            f'{split}_dataloader.dataset.data_root={data_root}',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            f'{split}_dataloader.batch_size={batch_size}',
        ]
    return opts


def run_tool(args: Sequence[str], timeout: int = 300,
             check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python <args>`` (or a shell script) from the repo root."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    cmd = list(args)
    if cmd[0].endswith('.py'):
        cmd = [sys.executable] + cmd
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(cmd)} failed ({proc.returncode}):\n'
            f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def det_tiny_options(data_root: str, max_epochs: int = 1,
                     batch_size: int = 2) -> List[str]:
    """``--cfg-options`` that shrink a detection config (configs/dset) to
    seconds on a CPU: 64x64 images of a tiny demo set, 20 queries."""
    root = data_root.rstrip('/') + '/'
    opts = [
        f'train_cfg.max_epochs={max_epochs}',
        'default_hooks.logger.interval=1',
        'model.num_queries=20',
        'model.test_cfg.max_per_img=20',
        'model.dn_cfg.group_cfg.num_dn_queries=10',
        'train_dataloader.dataset.pipeline.3.scale=(64,64)',
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        f'test_evaluator.ann_file={root}annotations/instances_val.json',
    ]
    for split in ('train', 'val', 'test'):
        if split != 'train':
            opts.append(f'{split}_dataloader.dataset.pipeline.1.scale='
                        '(64,64)')
        opts += [
            f'{split}_dataloader.dataset.data_root={root}',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            f'{split}_dataloader.batch_size={batch_size}',
        ]
    return opts
