"""Weights-only checkpoint loading, atomic writes and CPU distributed
start."""
import errno
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from featsel.engine import init_cpu_distributed
from featsel.engine.compat import TRUST_ENV
from featsel.utils.errors import CheckpointError
from featsel.utils.io import remove_stale_parts, write_bytes_atomic


class _WritesAFile:
    """Unpickling this runs ``open(path, 'w')``: code from the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_runner_checkpoint_with_message_hub_loads(tmp_path):
    ckpt = dict(state_dict=dict(w=torch.ones(2)),
                message_hub=dict(log_scalars=dict(
                    loss=HistoryBuffer([1.0, 2.0], [1, 1]))),
                meta=dict(seed=np.int64(3), arr=np.zeros(2)))
    path = tmp_path / 'iter_2.pth'
    torch.save(ckpt, path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)  # what mmengine 0.10.7 does on torch >= 2.6
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert loaded['message_hub']['log_scalars']['loss'].mean() == 1.5
    assert loaded['meta']['seed'] == 3


def test_real_runner_checkpoint_loads_weights_only(demo_root, tmp_path):
    """A checkpoint written by mmengine's runner (message hub, optimizer,
    schedulers, numpy meta) loads without full unpickling."""
    from tests.tool_runner import run_tool, tiny_options
    work_dir = str(tmp_path / 'w')
    run_tool(['tools/train.py', 'configs/baseline_multitask.py',
              '--work-dir', work_dir, '--cfg-options',
              *tiny_options(demo_root, max_iters=2, interval=2)])
    path = osp.join(work_dir, 'iter_2.pth')
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
    loaded = _load_checkpoint(path, map_location='cpu')
    assert loaded['meta']['iter'] == 2
    loss = loaded['message_hub']['log_scalars']['train/loss']
    assert loss.current() == pytest.approx(loss.data[0][-1])
    assert 'random_state' in loaded['meta']  # RandomStateHook


def test_code_in_a_checkpoint_is_refused_unless_trusted(tmp_path,
                                                        monkeypatch):
    marker = tmp_path / 'marker'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(2)),
                    x=_WritesAFile(str(marker))), path)
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(CheckpointError, match='evil.pth" holds io.open.*'
                       '--trust-checkpoint'):
        _load_checkpoint(path, map_location='cpu')
    assert not marker.exists()
    monkeypatch.setenv(TRUST_ENV, '1')
    assert _load_checkpoint(path)['state_dict']['w'].sum() == 2
    assert marker.exists()  # the opt-in does run it


def test_getattr_is_allowed_for_history_buffer_only(tmp_path):
    """mmengine's HistoryBuffer pickles ``getattr(HistoryBuffer, 'min')``;
    any other ``getattr`` stays refused."""
    path = str(tmp_path / 'getattr.pth')
    torch.save(dict(f=os.system), path)  # pickled as posix.system
    torch.save(dict(f=np.ndarray.tofile), str(tmp_path / 'method.pth'))
    for name in ('getattr.pth', 'method.pth'):
        with pytest.raises(CheckpointError, match='full unpickling'):
            _load_checkpoint(str(tmp_path / name))


@pytest.mark.parametrize('damage', ['truncated', 'random', 'empty', 'text'])
def test_unreadable_checkpoint_names_the_file(tmp_path, damage):
    good = str(tmp_path / 'good.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(100))), good)
    data = open(good, 'rb').read()
    content = dict(truncated=data[:len(data) // 2],
                   random=np.random.default_rng(0).bytes(4096), empty=b'',
                   text=b'hello\n')[damage]
    bad = tmp_path / f'{damage}.pth'
    bad.write_bytes(content)
    with pytest.raises(CheckpointError,
                       match=f'"{bad}" cannot be read: it is truncated'):
        _load_checkpoint(str(bad))


def test_plain_weights_load_safely(tmp_path, monkeypatch):
    path = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2)),
                    meta=dict(arr=np.arange(3))), path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert loaded['meta']['arr'].tolist() == [0, 1, 2]
    assert calls == [True]  # never fell back to full unpickling


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_cpu_distributed_config(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: True)
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    init_cpu_distributed(cfg, 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
    untouched = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    init_cpu_distributed(untouched, 'none')
    assert untouched.env_cfg.dist_cfg.backend == 'nccl'
    with pytest.raises(ValueError, match='slurm'):
        init_cpu_distributed(untouched, 'slurm')


def test_atomic_write_respects_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_bytes_atomic(b'x', str(tmp_path / 'a.pth'))
        os.umask(0o077)
        write_bytes_atomic(b'x', str(tmp_path / 'b.pth'))
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / 'a.pth').st_mode & 0o777) == oct(0o644)
    assert oct(os.stat(tmp_path / 'b.pth').st_mode & 0o777) == oct(0o600)


def test_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'iter_2.pth')
    write_bytes_atomic(b'good', path)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', full)
    with pytest.raises(OSError, match='No space left') as info:
        write_bytes_atomic(b'new', path)
    assert info.value.filename == path
    assert open(path, 'rb').read() == b'good'
    assert os.listdir(tmp_path) == ['iter_2.pth']


def test_stale_parts_are_removed_live_ones_kept(tmp_path):
    legacy = tmp_path / 'tmpab12cd.part'
    dead = tmp_path / 'tmp999999999_x.part'  # no such process
    live = tmp_path / f'tmp{os.getpid()}_y.part'
    other = tmp_path / 'notes.part'
    for f in (legacy, dead, live, other):
        f.write_bytes(b'')
    removed = remove_stale_parts(str(tmp_path))
    assert sorted(removed) == sorted([str(legacy), str(dead)])
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name])
