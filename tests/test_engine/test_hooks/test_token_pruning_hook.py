"""TokenPruningScheduleHook: set_epoch on every pruner of a model, the
logged keep ratios, and the hook inside a real epoch-based training run
(resumed included)."""
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from featsel.engine.hooks.token_pruning_hook import (TokenPruningScheduleHook,
                                                     find_scheduled_pruners)
from featsel.models.pruners import (LearnableTokenPruner,
                                    SpatialPriorTokenPruner)
from featsel.registry import HOOKS

C = 4


class ListLogger:
    """Collects messages like ``runner.logger``."""

    def __init__(self) -> None:
        self.infos, self.warnings = [], []

    def info(self, msg: str) -> None:
        self.infos.append(msg)

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)


class TwoPrunerModel(BaseModel):
    """Two pruned 'encoders' over a (2, 3) token grid and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Module()
        self.enc.pruner = LearnableTokenPruner(
            embed_dims=C, hidden_dims=3, keep_ratio=0.7, warmup_epochs=10)
        self.side = SpatialPriorTokenPruner(
            embed_dims=C, hidden_dims=3, keep_ratio=0.6, warmup_epochs=2,
            prior_size=(2, 3))
        self.head = nn.Linear(C, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        tokens = inputs.view(inputs.shape[0], 6, C)
        loss = 0
        for pruner in (self.enc.pruner, self.side):
            out = pruner(tokens, hw=(2, 3))
            restored = pruner.restore(out.tokens, tokens, out.index)
            loss = loss + self.head(restored).pow(2).mean()
            loss = loss + pruner.aux_losses()['loss_prune']
        return dict(loss=loss) if mode == 'loss' else [loss]


def fake_runner(model, epoch=0, iteration=0, name='token_pruning_hook'):
    return SimpleNamespace(model=model, epoch=epoch, iter=iteration,
                           logger=ListLogger(),
                           message_hub=MessageHub.get_instance(name))


def test_hook_is_registered_and_checks_interval():
    assert HOOKS.get('TokenPruningScheduleHook') is TokenPruningScheduleHook
    with pytest.raises(ValueError, match='interval'):
        TokenPruningScheduleHook(interval=0)


def test_finds_both_pruners_through_a_wrapper():
    model = TwoPrunerModel()
    assert list(find_scheduled_pruners(model)) == ['enc.pruner', 'side']
    assert list(find_scheduled_pruners(nn.DataParallel(model))) == [
        'enc.pruner', 'side']
    assert list(find_scheduled_pruners(model.side)) == ['pruner']


@pytest.mark.parametrize('epoch, enc, side', [
    (0, 1.0, 1.0), (1, 0.97, 0.8), (5, 0.85, 0.6), (12, 0.7, 0.6)])
def test_before_train_epoch_sets_and_logs_the_ratio(epoch, enc, side):
    """Any epoch, as on resume: the ratio depends on the epoch alone."""
    model = TwoPrunerModel()
    runner = fake_runner(model, epoch=epoch)
    TokenPruningScheduleHook().before_train_epoch(runner)
    assert model.enc.pruner.current_keep_ratio == pytest.approx(enc)
    assert model.side.current_keep_ratio == pytest.approx(side)
    assert len(runner.logger.infos) == 1
    msg = runner.logger.infos[0]
    assert f'epoch {epoch}' in msg
    assert f'enc.pruner={enc:.4f}' in msg and f'side={side:.4f}' in msg


def test_after_train_iter_updates_the_message_hub_every_interval():
    model = TwoPrunerModel()
    hook = TokenPruningScheduleHook(interval=3)
    runner = fake_runner(model, epoch=5, name='token_pruning_interval')
    hook.before_train_epoch(runner)
    key = 'train/prune/enc.pruner/keep_ratio'
    for iteration in range(2):
        runner.iter = iteration
        hook.after_train_iter(runner, iteration)
    assert key not in runner.message_hub.log_scalars
    runner.iter = 2
    hook.after_train_iter(runner, 2)
    hub = runner.message_hub
    assert hub.get_scalar(key).current() == pytest.approx(0.85)
    assert hub.get_scalar('train/prune/side/keep_ratio').current() == \
        pytest.approx(0.6)


def test_model_without_pruners_warns_once():
    runner = fake_runner(nn.Linear(2, 2))
    hook = TokenPruningScheduleHook(interval=1)
    hook.before_train_epoch(runner)
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0)
    assert len(runner.logger.warnings) == 1
    assert runner.logger.infos == []


# ---------------------------------------------------------------------- #
# In a training run
# ---------------------------------------------------------------------- #
def _runner(work_dir, train_cfg, custom_hooks=None, load_from=None):
    """A tiny runner of :class:`TwoPrunerModel`: epoch-based (checkpoint
    every epoch) or iteration-based (infinite sampler, no checkpoints),
    as ``train_cfg`` says."""
    by_epoch = train_cfg['by_epoch']
    data = [dict(inputs=torch.randn(6 * C)) for _ in range(4)]
    return Runner(
        model=TwoPrunerModel(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=data, batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler' if by_epoch else
                         'InfiniteSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1,
                        log_metric_by_epoch=by_epoch),
            checkpoint=dict(type='CheckpointHook', interval=1)
            if by_epoch else None),
        custom_hooks=custom_hooks or [
            dict(type='TokenPruningScheduleHook', interval=1)],
        load_from=load_from,
        resume=load_from is not None,
        default_scope='featsel',
        # mmengine names its logger and visualizer after the experiment
        # (default: the timestamp); two runners started within one second
        # would share them, and the second would log into the first's dir
        experiment_name=f'token_pruning_{osp.basename(work_dir)}')


def _logged(runner, work_dir):
    path = osp.join(work_dir, runner.timestamp, 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_hook_in_a_resumed_training_run(tmp_path):
    work_dir = str(tmp_path / 'first')
    torch.manual_seed(0)
    first = _runner(work_dir, dict(by_epoch=True, max_epochs=1))
    first.train()
    logged = _logged(first, work_dir)
    assert [e['prune/side/keep_ratio'] for e in logged] == [1.0, 1.0]
    assert [e['prune/enc.pruner/keep_ratio'] for e in logged] == [1.0, 1.0]

    # resume from epoch 1 and train epochs 1 and 2
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    work_dir = str(tmp_path / 'second')
    second = _runner(work_dir, dict(by_epoch=True, max_epochs=3),
                     load_from=checkpoint)
    second.train()
    logged = _logged(second, work_dir)
    side = [e['prune/side/keep_ratio'] for e in logged]
    enc = [e['prune/enc.pruner/keep_ratio'] for e in logged]
    assert side == pytest.approx([0.8, 0.8, 0.6, 0.6])
    assert enc == pytest.approx([0.97, 0.97, 0.94, 0.94])
    model = second.model
    assert model.side.current_keep_ratio == pytest.approx(0.6)
    log_file = osp.join(work_dir, second.timestamp,
                        f'{second.timestamp}.log')
    with open(log_file) as f:
        text = f.read()
    assert 'token pruning keep ratio at epoch 1' in text
    assert 'prune/side/keep_ratio' in text


# ---------------------------------------------------------------------- #
# Iteration-based loops and the EMA copy
# ---------------------------------------------------------------------- #
ITER_CFG = dict(by_epoch=False, max_iters=8)


def test_iteration_based_loop_drives_the_warmup(tmp_path):
    """2 iterations per epoch: iteration i runs at epoch i / 2, so the
    side pruner (warm-up 2 epochs, target 0.6) falls by 0.1 per iteration
    and reaches 0.6 at iteration 4; the 10-epoch one by 0.015."""
    work_dir = str(tmp_path / 'iter')
    torch.manual_seed(0)
    runner = _runner(work_dir, ITER_CFG, [dict(type='PluginHook', interval=1)])
    runner.train()
    logged = _logged(runner, work_dir)
    side = [e['prune/side/keep_ratio'] for e in logged]
    enc = [e['prune/enc.pruner/keep_ratio'] for e in logged]
    assert side == pytest.approx(
        [1.0, 0.9, 0.8, 0.7, 0.6, 0.6, 0.6, 0.6])
    assert enc == pytest.approx([1 - 0.015 * i for i in range(8)])


def test_ema_copy_follows_the_schedule(tmp_path):
    """EMA with update_buffers averages keep_ratio_now; the hook sets the
    schedule's value on the EMA copy after every averaging step, so the
    validated (EMA) model prunes as the schedule says."""
    work_dir = str(tmp_path / 'ema')
    torch.manual_seed(0)
    runner = _runner(work_dir, ITER_CFG, [
        dict(type='TokenPruningScheduleHook', interval=1),
        dict(type='EMAHook', momentum=0.01, update_buffers=True,
             priority=49)])
    runner.train()
    ema = [h for h in runner.hooks if type(h).__name__ == 'EMAHook'][0]
    ema_model = ema.ema_model.module
    # last iteration (7) ran at epoch 3.5: side 0.6, enc 1 - 0.015 * 7
    assert ema_model.side.current_keep_ratio == pytest.approx(0.6)
    assert ema_model.enc.pruner.current_keep_ratio == pytest.approx(
        1 - 0.015 * 7)
    assert runner.model.side.current_keep_ratio == pytest.approx(0.6)
