"""MoEUsageHook: logged expert shares averaged over the interval, and the
warnings for a collapsed router and for an unreachable threshold."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from torch import nn

from featsel.engine.hooks.moe_usage_hook import MoEUsageHook, moe_layers
from featsel.models.layers import MoEFFN
from featsel.registry import HOOKS

D = 4


class ListLogger:
    """Collects warnings like ``runner.logger.warning``."""

    def __init__(self) -> None:
        self.warnings = []
        self.infos = []

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)

    def info(self, msg: str) -> None:
        self.infos.append(msg)


def moe(num_experts: int, top_k: int) -> MoEFFN:
    return MoEFFN(embed_dims=D, num_experts=num_experts, top_k=top_k,
                  expert=dict(type='FFNExpert', hidden_dims=4))


class TwoMoEModel(nn.Module):
    """An encoder MoE (4 experts, top-1) and a decoder MoE (3, top-2)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(D, D), moe(4, 1))
        self.decoder = nn.ModuleDict(dict(ffn=moe(3, 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder['ffn'](self.encoder(x))


class OneMoE(nn.Module):
    """One MoE layer called ``ffn``; ``positive`` feeds it ``|x|``."""

    def __init__(self, num_experts: int, top_k: int,
                 positive: bool = False) -> None:
        super().__init__()
        self.ffn = moe(num_experts, top_k)
        self.positive = positive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(x.abs() if self.positive else x)


def fake_runner(model: nn.Module, name: str) -> SimpleNamespace:
    return SimpleNamespace(model=model, iter=0, logger=ListLogger(),
                           message_hub=MessageHub.get_instance(name))


def run_iters(hook, runner, model, num_iters: int, seed: int = 0) -> list:
    """Train-iteration stand-ins; returns each iteration's loads."""
    g = torch.Generator().manual_seed(seed)
    loads = []
    for it in range(num_iters):
        runner.iter = it
        model(torch.randn(2, 6, D, generator=g))
        loads.append({n: m.last_expert_load.clone()
                      for n, m in moe_layers(model)})
        hook.after_train_iter(runner, batch_idx=it)
    return loads


def moe_keys(runner) -> list:
    return sorted(k for k in runner.message_hub.log_scalars
                  if k.startswith('train/moe/'))


def test_logs_shares_averaged_over_the_interval():
    torch.manual_seed(0)
    model = TwoMoEModel()
    assert [n for n, _ in moe_layers(model)] == ['encoder.1', 'decoder.ffn']
    hook = MoEUsageHook(interval=3, warn_share=0.3)
    runner = fake_runner(model, 'test_moe_usage_interval')
    loads = run_iters(hook, runner, model, 6)  # logs after iterations 3, 6
    assert moe_keys(runner) == (
        [f'train/moe/decoder.ffn/expert{i}' for i in range(3)]
        + [f'train/moe/encoder.1/expert{i}' for i in range(4)])
    for name, num in (('encoder.1', 4), ('decoder.ffn', 3)):
        first = torch.stack([load[name] for load in loads[:3]]).mean(0)
        second = torch.stack([load[name] for load in loads[3:]]).mean(0)
        for i in range(num):
            history = runner.message_hub.get_scalar(
                f'train/moe/{name}/expert{i}').data[0]
            assert history.tolist() == pytest.approx(
                [first[i].item(), second[i].item()])
        assert sum(first.tolist()) == pytest.approx(1.0)


def test_warns_once_for_a_collapsed_router():
    torch.manual_seed(0)
    model = OneMoE(4, 1, positive=True)
    with torch.no_grad():  # positive tokens all pick expert 2
        model.ffn.router.gate.weight.copy_(torch.tensor(
            [[-1.0] * D, [-1.0] * D, [1.0] * D, [-1.0] * D]))
    hook = MoEUsageHook(interval=2, warn_share=0.5)
    runner = fake_runner(model, 'test_moe_usage_collapse')
    run_iters(hook, runner, model, 6)
    assert len(runner.logger.warnings) == 1
    message = runner.logger.warnings[0]
    assert '"ffn"' in message and 'expert 2' in message
    assert '100.0%' in message
    assert runner.message_hub.get_scalar(
        'train/moe/ffn/expert2').current() == pytest.approx(1.0)
    assert runner.message_hub.get_scalar(
        'train/moe/ffn/expert0').current() == 0


def test_no_warning_for_balanced_use():
    torch.manual_seed(0)
    model = OneMoE(4, 1)
    hook = MoEUsageHook(interval=2, warn_share=0.9)
    runner = fake_runner(model, 'test_moe_usage_balanced')
    run_iters(hook, runner, model, 4)
    assert runner.logger.warnings == []


@pytest.mark.parametrize('num_experts,top_k,expected', [
    (4, 1, 0.5), (2, 1, 0.75), (3, 2, 5 / 12), (4, 2, 0.375),
    (6, 3, 0.25)])
def test_threshold_is_meaningful_for_every_layer(num_experts, top_k,
                                                 expected):
    hook = MoEUsageHook(warn_share=0.5)
    runner = fake_runner(nn.Linear(2, 2), 'test_moe_usage_threshold')
    assert hook.threshold(runner, 'ffn', num_experts, top_k) == \
        pytest.approx(expected)
    # said once, only where warn_share had to be replaced
    assert len(runner.logger.infos) == int(expected != 0.5)


def test_top2_collapse_is_caught():
    torch.manual_seed(0)
    model = OneMoE(4, 2, positive=True)
    with torch.no_grad():  # positive tokens all pick experts 1 and 2
        model.ffn.router.gate.weight.copy_(torch.tensor(
            [[-1.0] * D, [1.0] * D, [0.9] * D, [-1.0] * D]))
    hook = MoEUsageHook(interval=1, warn_share=0.5)
    runner = fake_runner(model, 'test_moe_usage_top2')
    run_iters(hook, runner, model, 3)
    assert len(runner.logger.warnings) == 1
    assert 'threshold 37.5%' in runner.logger.warnings[0]


def test_model_without_moe_and_registration():
    hook = HOOKS.build(dict(type='MoEUsageHook', interval=1))
    assert isinstance(hook, MoEUsageHook)
    runner = fake_runner(nn.Linear(2, 2), 'test_moe_usage_none')
    hook.after_train_iter(runner, batch_idx=0)
    assert moe_keys(runner) == [] and runner.logger.warnings == []
    with pytest.raises(ValueError, match='warn_share'):
        MoEUsageHook(warn_share=0)
    with pytest.raises(ValueError, match='interval'):
        MoEUsageHook(interval=0)


def test_warns_again_after_the_layer_recovers_and_collapses():
    """Collapsed (expert 2), balanced, collapsed again: two warnings."""
    torch.manual_seed(0)
    model = OneMoE(4, 1, positive=True)
    collapsed = torch.tensor([[-1.0] * D, [-1.0] * D, [1.0] * D, [-1.0] * D])
    hook = MoEUsageHook(interval=2, warn_share=0.5)
    runner = fake_runner(model, 'test_moe_usage_rewarn')
    counts = []
    for phase, weight in enumerate((collapsed, None, collapsed)):
        with torch.no_grad():
            if weight is None:  # router of zeros: ties, spread by index
                model.ffn.router.gate.weight.zero_()
                model.positive = False
            else:
                model.ffn.router.gate.weight.copy_(weight)
                model.positive = True
        g = torch.Generator().manual_seed(phase)
        for it in range(2 * phase, 2 * phase + 2):
            runner.iter = it
            model(torch.randn(2, 6, D, generator=g))
            if weight is None:  # force a balanced load for this phase
                model.ffn.last_expert_load = torch.full((4, ), 0.25)
            hook.after_train_iter(runner, batch_idx=it)
        counts.append(len(runner.logger.warnings))
    assert counts == [1, 1, 2]
    assert 'expert 2' in runner.logger.warnings[1]
