"""Checkpoint guards: fit check, non-finite stop, random state."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import BaseDataElement
from torch import nn

from featsel.engine.hooks import (CheckpointCheckHook, NonFiniteGuardHook,
                                  RandomStateHook)
from featsel.engine.hooks.checkpoint_guards import (_RestoreBeforeFetch,
                                                    compare_state_dicts,
                                                    get_random_state,
                                                    set_random_state)
from featsel.utils.errors import CheckpointError, DataError


def _runner(model=None, **cfg):
    return SimpleNamespace(model=model, cfg=Config(cfg), iter=5,
                           work_dir='/nowhere')


def test_compare_counts_missing_unexpected_and_mismatched():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)).state_dict()
    ckpt = {'module.0.weight': torch.zeros(4, 2), '0.bias': torch.zeros(3),
            'extra': torch.zeros(1)}
    diff = compare_state_dicts(model, ckpt)
    assert diff['missing'] == ['1.bias', '1.weight']
    assert diff['unexpected'] == ['extra']
    assert diff['mismatched'] == ['0.weight: checkpoint (4, 2) vs model '
                                  '(3, 2)']


def test_check_hook_strict_non_strict_and_resume():
    model = nn.Linear(2, 3)
    fits = dict(state_dict=model.state_dict())
    wide = dict(state_dict=nn.Linear(2, 4).state_dict())
    CheckpointCheckHook().after_load_checkpoint(
        _runner(model, load_from='a.pth'), fits)
    with pytest.raises(CheckpointError, match=r'"a.pth" does not fit.*'
                       r'mismatched 2.*--non-strict'):
        CheckpointCheckHook().after_load_checkpoint(
            _runner(model, load_from='a.pth'), wide)
    CheckpointCheckHook(strict=False).after_load_checkpoint(
        _runner(model, load_from='a.pth'), wide)
    with pytest.raises(CheckpointError, match='resuming needs'):
        CheckpointCheckHook(strict=False).after_load_checkpoint(
            _runner(model, load_from='a.pth', resume=True), wide)


def test_check_hook_allows_only_the_named_missing_weights():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    base = {k: v for k, v in model.state_dict().items()
            if not k.startswith('1.')}
    hook = CheckpointCheckHook(allow_missing=['1.*'])
    hook.after_load_checkpoint(_runner(model, load_from='a.pth'),
                               dict(state_dict=base))
    # anything else that does not fit is still refused
    no_bias = {k: v for k, v in base.items() if k != '0.bias'}
    with pytest.raises(CheckpointError,
                       match=r'missing 1, .*: missing 0.bias\)'):
        hook.after_load_checkpoint(_runner(model, load_from='a.pth'),
                                   dict(state_dict=no_bias))
    wide = dict(base, **{'0.weight': torch.zeros(4, 2)})
    with pytest.raises(CheckpointError, match='mismatched 1'):
        hook.after_load_checkpoint(_runner(model, load_from='a.pth'),
                                   dict(state_dict=wide))
    # a resume must hold every weight
    with pytest.raises(CheckpointError, match='resuming needs'):
        hook.after_load_checkpoint(
            _runner(model, load_from='a.pth', resume=True),
            dict(state_dict=base))


def _batch(*paths):
    return dict(inputs=[], data_samples=[
        BaseDataElement(metainfo=dict(img_path=p)) for p in paths])


def test_non_finite_loss_names_the_images():
    hook = NonFiniteGuardHook()
    hook.after_train_iter(_runner(), 0, _batch('a.png'),
                          dict(loss=torch.tensor(1.0)))
    with pytest.raises(DataError, match=r'iteration 6 \(loss=nan, '
                       r'loss_seg=inf\); images of the batch: a.png, b.png'):
        hook.after_train_iter(
            _runner(), 0, _batch('a.png', 'b.png'),
            dict(loss=torch.tensor(float('nan')), loss_seg=float('inf'),
                 acc=torch.tensor(0.5)))


def test_non_finite_weights_are_never_saved():
    hook = NonFiniteGuardHook()
    state = dict(w=torch.ones(3), steps=torch.tensor(4))
    hook.before_save_checkpoint(_runner(), dict(state_dict=state))
    state['w'][1] = float('nan')
    with pytest.raises(DataError, match='non-finite.*e.g. w'):
        hook.before_save_checkpoint(_runner(), dict(state_dict=state))


def _draw():
    return (random.random(), float(np.random.rand()), torch.rand(1).item())


def test_random_state_saved_and_restored_per_epoch():
    hook = RandomStateHook()
    torch.manual_seed(0)
    ckpt = dict(meta={})
    hook.before_save_checkpoint(_runner(), ckpt)
    expected = _draw()
    _draw()  # the run goes on, then is killed
    hook.after_load_checkpoint(_runner(resume=True), ckpt)
    hook.before_train_epoch(_runner())
    assert _draw() == expected


def test_validation_leaves_the_random_state_alone():
    hook = RandomStateHook()
    state = get_random_state()
    hook.before_val(_runner())
    _draw()
    saved = dict(meta={})
    hook.before_save_checkpoint(_runner(), saved)  # a best checkpoint
    hook.after_val(_runner())
    expected = _draw()
    for s in (state, saved['meta']['random_state']):
        set_random_state(s)
        assert _draw() == expected


def test_restore_happens_after_the_replayed_batches():
    state = get_random_state()
    expected = _draw()
    draws = iter(lambda: _draw(), None)
    wrapped = _RestoreBeforeFetch(draws, skip=2, state=state)
    next(wrapped), next(wrapped)  # replayed with whatever state
    assert next(wrapped) == expected
