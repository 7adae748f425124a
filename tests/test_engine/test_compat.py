"""torch >= 2.6 checkpoint loading and CPU distributed start."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from featsel.engine import init_cpu_distributed


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
