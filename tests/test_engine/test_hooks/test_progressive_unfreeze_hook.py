"""ProgressiveUnfreezeHook: which groups freeze, which parameters get
gradients and move in each stage, the learning rate of the unfrozen
groups, resuming into the right stage, and clear errors."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.structures import BaseDataElement

from featsel.engine.hooks import ProgressiveUnfreezeHook
from featsel.models import TaskAdaptedRestorer
from featsel.registry import HOOKS
from featsel.utils import ConfigError

# seven groups: encoder.0, encoder.1, bottleneck, decoder.0..2, head
BACKBONE = dict(type='GlobalLocalRestorer', embed_dims=(4, 8), token_dims=8,
                token_pool=2, num_layers=1, num_heads=2, crop_size=32)
LATE = ('backbone.decoder.0', 'backbone.decoder.1')
LR = 1e-2


def _model() -> TaskAdaptedRestorer:
    torch.manual_seed(0)
    model = TaskAdaptedRestorer(
        backbone=dict(BACKBONE),
        losses=dict(dehaze=[dict(type='PixelL1Loss')]),
        adapter=dict(type='BottleneckAdapter', min_hidden_channels=2),
        adapter_tasks=['dehaze'])
    with torch.no_grad():  # open the gates, so adapter weights get gradient
        for name, p in model.named_parameters():
            if name.endswith('.gate'):
                p.fill_(0.5)
    return model


def _runner(model, iteration=0, lr_mult=0.1):
    paramwise = dict(custom_keys={
        k + '.': dict(lr_mult=lr_mult) for k in LATE}) if lr_mult else None
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper', paramwise_cfg=paramwise,
        optimizer=dict(type='AdamW', lr=LR, weight_decay=1e-2)))
    return SimpleNamespace(model=model, iter=iteration, optim_wrapper=optim)


def _step(model, runner) -> dict:
    """One optimiser step on a dehaze batch; returns which parameters got a
    gradient and which changed."""
    gen = torch.Generator().manual_seed(1)
    inputs = torch.rand(2, 3, 16, 16, generator=gen)
    samples = []
    for _ in range(2):
        sample = BaseDataElement(metainfo=dict(task='dehaze'))
        sample.gt_img = torch.rand(3, 16, 16, generator=gen)
        samples.append(sample)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = sum(model.loss(inputs, samples).values())
    loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    runner.optim_wrapper.step()
    runner.optim_wrapper.zero_grad()
    moved = {n for n, p in model.named_parameters()
             if not torch.equal(p, before[n])}
    return dict(grads=grads, moved=moved)


def _under(names, prefixes):
    return {n for n in names if any(n.startswith(p + '.') for p in prefixes)}


def test_registered_and_splits_the_groups_by_hand_count():
    assert HOOKS.get('ProgressiveUnfreezeHook') is ProgressiveUnfreezeHook
    model = _model()
    hook = ProgressiveUnfreezeHook(frozen_fraction=2 / 3, unfreeze_iter=2)
    # k = round(2/3 * 7) = 5 frozen; the top two of them unfreeze later
    assert hook.split(model) == dict(
        frozen=['backbone.encoder.0', 'backbone.encoder.1',
                'backbone.bottleneck'],
        unfrozen=list(LATE),
        top=['backbone.decoder.2', 'backbone.head'])
    half = ProgressiveUnfreezeHook(frozen_fraction=0.5).split(model)
    assert half['frozen'] == ['backbone.encoder.0', 'backbone.encoder.1',
                              'backbone.bottleneck', 'backbone.decoder.0']
    assert half['unfrozen'] == []


def test_gradients_and_updates_follow_the_stages():
    model = _model()
    names = [n for n, _ in model.named_parameters()]
    adapters = {n for n in names if '.adapters.' in n}
    top = _under(names, ['backbone.decoder.2', 'backbone.head'])
    late = _under(names, LATE)
    runner = _runner(model)
    hook = ProgressiveUnfreezeHook(unfreeze_iter=2, unfreeze_groups=2)
    hook.before_train(runner)
    for it in range(4):
        runner.iter = it
        hook.before_train_iter(runner, it)
        step = _step(model, runner)
        trained = adapters | top | (late if it >= 2 else set())
        assert step['grads'] == trained, it
        # AdamW's weight decay skips parameters without a gradient too
        assert step['moved'] == trained, it
    hook.after_train(runner)
    assert all(p.requires_grad for p in model.parameters())


def test_unfrozen_groups_train_at_a_tenth_of_the_rate():
    model = _model()
    runner = _runner(model)
    hook = ProgressiveUnfreezeHook(unfreeze_iter=0)
    hook.before_train(runner)
    rates = {}
    for group in runner.optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            rates[id(p)] = group['lr']
    for name, p in model.named_parameters():
        expected = 0.1 * LR if name.startswith(LATE) else LR
        assert rates[id(p)] == pytest.approx(expected), name


def test_missing_lr_mult_names_the_keys_to_add():
    model = _model()
    hook = ProgressiveUnfreezeHook(unfreeze_iter=2)
    with pytest.raises(ConfigError, match="'backbone.decoder.0.': "
                       r"dict\(lr_mult=0.1\)"):
        hook.before_train(_runner(model, lr_mult=None))
    with pytest.raises(ConfigError, match=r'rates \[0.005'):
        hook.before_train(_runner(model, lr_mult=0.5))
    # no unfreezing: nothing to check
    ProgressiveUnfreezeHook().before_train(_runner(model, lr_mult=None))


def test_resumed_run_starts_in_its_stage():
    model = _model()
    runner = _runner(model, iteration=3)
    ProgressiveUnfreezeHook(unfreeze_iter=2).before_train(runner)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    names = [n for n, _ in model.named_parameters()]
    assert frozen == _under(names, ['backbone.encoder.0',
                                    'backbone.encoder.1',
                                    'backbone.bottleneck'])


def test_frozen_fraction_one_trains_the_adapters_alone():
    model = _model()
    runner = _runner(model, lr_mult=None)
    ProgressiveUnfreezeHook(frozen_fraction=1.0).before_train(runner)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all('.adapters.' in n for n in trainable)


@pytest.mark.parametrize('kwargs,match', [
    (dict(frozen_fraction=1.5), 'frozen_fraction'),
    (dict(unfreeze_iter=-1), 'unfreeze_iter'),
    (dict(unfreeze_lr_mult=0), 'unfreeze_lr_mult'),
])
def test_bad_arguments_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ProgressiveUnfreezeHook(**kwargs)


def test_more_unfrozen_than_frozen_groups_is_an_error():
    hook = ProgressiveUnfreezeHook(frozen_fraction=0.3, unfreeze_iter=1,
                                   unfreeze_groups=3)
    with pytest.raises(ConfigError, match=r'unfreeze_groups=3 must lie in '
                       r'\[1, 2\]'):
        hook.split(_model())
    with pytest.raises(ConfigError, match='has no "encoder"'):
        ProgressiveUnfreezeHook(backbone='encoder').split(_model())
