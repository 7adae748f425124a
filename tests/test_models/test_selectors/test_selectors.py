"""Selectors of SPEC S1: TaskDW (E1), depthwise experts (E2/E3) and the
per-scale plan that makes the hybrids (E4/E5) config lines."""
import os.path as osp
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from torch import Tensor, nn

from featsel.models import build_selector
from featsel.models.experts import DWConvExpert
from featsel.models.gatings import SoftmaxGating, TaskEmbeddingMLPGating
from featsel.models.layers import mix_experts_naive
from featsel.models.selectors import (DepthwiseExpertBlock,
                                      DepthwiseExpertSelector,
                                      LowRankExpertBlock,
                                      MultiScaleTaskSelector,
                                      ScaleIdentityBlock, TaskDWBlock,
                                      TaskDWSelector)
from featsel.registry import MODELS
from featsel.utils import ConfigError
from tests.conftest import REPO_ROOT
from tests.test_models.helpers import tiny_segmentor_cfg, train_tiny

TASKS = ['seg', 'sdf', 'bnd']
CHANNELS = [4, 8, 16]


def _feats(batch: int = 2, size: int = 8, seed: int = 0,
           requires_grad: bool = False) -> list:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, c, size >> i, size >> i,
                    generator=g).requires_grad_(requires_grad)
        for i, c in enumerate(CHANNELS)
    ]


def _selector(cfg: dict, tasks=TASKS, in_channels=CHANNELS):
    torch.manual_seed(0)
    return build_selector(cfg, tasks=tasks, in_channels=in_channels)


class TaskEmbeddingGating(SoftmaxGating):
    """A task-conditioned gate for the tests: ``softmax(Conv1x1(x) + b_t)``.

    Used as ``dict(type=TaskEmbeddingGating)``, so nothing is registered.
    """

    task_conditioned = True

    def __init__(self, num_experts: int, channels: int, tasks) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, num_experts, 1)
        self.task_bias = nn.ParameterDict({
            t: nn.Parameter(torch.randn(num_experts, 1, 1))
            for t in tasks
        })

    def forward(self, x: Tensor, task: str) -> Tensor:
        return (self.conv(x) + self.task_bias[task]).softmax(dim=1)


class TanhDWExpert(DWConvExpert):
    """``tanh(DWConv(x))``: an expert the fused paths cannot take."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).tanh()


SELECTORS = {
    'task_dw_channel': dict(type='TaskDWSelector'),
    'task_dw_pixel_bn': dict(type='TaskDWSelector', weight='pixel',
                             norm_cfg=dict(type='BN')),
    'dw_experts': dict(type='DepthwiseExpertSelector',
                    orth_loss=dict(type='ExpertOrthogonalityLoss'),
                    gate_losses=[dict(type='GateBalanceLoss',
                                      loss_weight=1e-3)]),
    'dw_experts_mlp_task_emb': dict(
        type='DepthwiseExpertSelector',
        gating=dict(type='TaskEmbeddingMLPGating', embed_dims=4,
                    hidden_channels=8)),
    'dw_experts_residual_task_gate': dict(
        type='DepthwiseExpertSelector', residual=True,
        experts=[dict(type='DWConvExpert'), dict(type='IdentityExpert')],
        gating=dict(type=TaskEmbeddingGating)),
    'hybrid': dict(type='MultiScaleTaskSelector',
                   plan=['task_dw', 'dw_experts', 'identity']),
}


# ----------------------------------------------------------------- shapes
@pytest.mark.parametrize('name', sorted(SELECTORS))
def test_every_task_gets_features_shaped_like_the_input(name):
    selector = _selector(SELECTORS[name])
    feats = _feats()
    out = selector(feats)
    assert list(out) == TASKS
    for task in TASKS:
        assert [f.shape for f in out[task]] == [f.shape for f in feats]


@pytest.mark.parametrize('weight, channels', [('channel', 4), ('pixel', 1)])
def test_pixel_and_channel_weights(weight, channels):
    block = TaskDWBlock(4, ['a'], weight=weight)
    x = torch.randn(2, 4, 6, 6)
    out = block(x)['a']
    w = block.records()['a'].value
    assert w.shape == (2, channels, 6, 6)
    assert ((w > 0) & (w < 1)).all()
    torch.testing.assert_close(out, w * x)


@pytest.mark.parametrize('weight', ['channel', 'pixel'])
def test_return_weight_gives_the_map(weight):
    block = TaskDWBlock(4, ['a'], weight=weight, return_weight=True)
    x = torch.randn(2, 4, 6, 6)
    out = block(x)['a']
    w = block.records()['a'].value
    assert out.shape == x.shape  # a pixel map is expanded to C channels
    torch.testing.assert_close(out, w.expand_as(x))


def test_task_dw_starts_open():
    block = TaskDWBlock(4, ['a', 'b'])
    block(torch.zeros(1, 4, 5, 5))
    for record in block.records().values():
        assert record.kind == 'sigmoid'
        torch.testing.assert_close(record.value,
                                   torch.full((1, 4, 5, 5), 0.8808),
                                   atol=1e-4, rtol=0)


def test_open_start_survives_an_outer_init_cfg():
    selector = _selector(dict(
        type='TaskDWSelector',
        init_cfg=dict(type='Constant', layer='Conv2d', val=0.0, bias=0.0)))
    selector.init_weights()
    for block in selector.blocks:
        for gate in block.gates.values():
            assert (gate[0].weight == 0).all()
            assert (gate[0].bias == 2.0).all()


# ------------------------------------------------ a TaskDW gate can close
@pytest.mark.parametrize('weight', ['channel', 'pixel'])
def test_task_dw_has_no_relu_before_the_sigmoid(weight):
    """Every weight set by hand: the depthwise conv gives -4..-9 on a map
    of ones, BN (eval, initial stats) adds its bias 0 (pixel) or 2
    (channel), the pixel 1x1 conv sums the 4 channels and adds 2. The
    pre-sigmoid is negative everywhere, so every weight is below 0.5; a
    ReLU anywhere before the sigmoid would clip it to >= 0 and give
    weights >= sigmoid(0) = 0.5."""
    block = TaskDWBlock(4, ['a'], norm_cfg=dict(type='BN'), weight=weight)
    assert not any(isinstance(m, nn.ReLU) for m in block.modules())
    gate = block.gates['a']
    with torch.no_grad():
        gate[0].weight.fill_(-1.0)
        if weight == 'pixel':
            gate[2].weight.fill_(1.0)
    block.eval()  # BN with its initial running stats: identity + bias
    block(torch.ones(1, 4, 5, 5))
    w = block.records()['a'].value
    assert w.shape == ((1, 4, 5, 5) if weight == 'channel' else (1, 1, 5, 5))
    assert w.max() < 0.5
    # the centre: 9 taps of -1, so -9 (+ 2) per channel
    pre = -9.0 + 2.0 if weight == 'channel' else 4 * -9.0 + 2.0
    torch.testing.assert_close(w[0, 0, 2, 2], torch.tensor(pre).sigmoid())


def test_training_closes_a_gate_on_a_useless_channel():
    torch.manual_seed(0)
    block = TaskDWBlock(2, ['a'], norm_cfg=dict(type='BN'))
    optim = torch.optim.Adam(block.parameters(), lr=0.05)
    x = torch.randn(4, 2, 8, 8)
    target = x.clone()
    target[:, 0] = 0  # task 'a' wants channel 0 suppressed, 1 passed
    for _ in range(100):
        loss = (block(x)['a'] - target).pow(2).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    w = block.records()['a'].value.detach()
    assert w[:, 0].mean() < 0.2 < 0.8 < w[:, 1].mean()


# --------------------------------------------------------------- stop-grad
def _block(kind: str, detach: bool) -> nn.Module:
    torch.manual_seed(0)
    if kind == 'task_dw':
        return TaskDWBlock(4, ['a', 'b'], detach_input=detach)
    return DepthwiseExpertBlock(4, ['a', 'b'], detach_gate_input=detach)


@pytest.mark.parametrize('kind', ['task_dw', 'dw_experts'])
@pytest.mark.parametrize('detach', [True, False])
def test_stop_grad_cuts_the_gates_from_the_encoder(kind, detach):
    block = _block(kind, detach)
    f = torch.randn(2, 4, 6, 6, requires_grad=True)
    block(f)
    gates = sum(r.value.pow(2).sum() for r in block.records().values())
    params = [p for n, p in block.named_parameters() if 'gate' in n]
    grad, *param_grads = torch.autograd.grad(gates, [f] + params,
                                             allow_unused=True)
    if detach:
        assert grad is None
    else:
        assert grad is not None and grad.abs().sum() > 0
    assert params and all(g is not None for g in param_grads)  # gates learn


@pytest.mark.parametrize('kind', ['task_dw', 'dw_experts'])
def test_stop_grad_keeps_the_feature_path(kind):
    block = _block(kind, True)
    f = torch.randn(2, 4, 6, 6, requires_grad=True)
    out = block(f)
    out['a'].sum().backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    if kind == 'task_dw':  # d(w * f)/df with w a constant of f
        torch.testing.assert_close(f.grad,
                                   block.records()['a'].value.detach())


# ------------------------------------------------------ depthwise experts
@pytest.mark.parametrize('residual', [False, True])
def test_dw_experts_mix_the_shared_experts(residual):
    torch.manual_seed(0)
    block = DepthwiseExpertBlock(
        4, ['a', 'b'], residual=residual,
        experts=[dict(type='DWConvExpert'),
                 dict(type='DWConvExpert', kernel_size=5),
                 dict(type='IdentityExpert')])
    x = torch.randn(2, 4, 6, 6)
    out = block(x)
    assert len(block.experts) == 3 and set(block.gates) == {'a', 'b'}
    for task in ('a', 'b'):
        alpha = block.records()[task].value
        expected = mix_experts_naive(x, alpha, block.experts)
        if residual:
            expected = expected + x
        torch.testing.assert_close(out[task], expected)


@pytest.mark.parametrize('gating', [
    dict(type='ConvGating'), dict(type='MLPGating'),
    dict(type=TaskEmbeddingGating), dict(type='TaskEmbeddingMLPGating')])
def test_gates_sum_to_one(gating):
    selector = _selector(dict(type='DepthwiseExpertSelector', gating=gating))
    selector(_feats())
    records = selector.records()
    assert sorted(records) == sorted(f'f{i}/{t}' for i in (1, 2, 3)
                                     for t in TASKS)
    for record in records.values():
        assert record.kind == 'softmax'
        assert record.value.shape[1] == 4
        torch.testing.assert_close(record.value.sum(1),
                                   torch.ones_like(record.value[:, 0]))


@pytest.mark.parametrize('gating', [TaskEmbeddingGating,
                                    TaskEmbeddingMLPGating])
def test_task_conditioned_gate_is_built_once_and_shared(gating):
    selector = _selector(dict(type='DepthwiseExpertSelector',
                              gating=dict(type=gating)))
    for block in selector.blocks:
        assert block.task_conditioned and len(block.gates) == 0
        assert isinstance(block.shared_gate, gating)
        assert all(block.gate(t) is block.shared_gate for t in TASKS)
    selector(_feats())
    records = selector.records()
    assert not torch.allclose(records['f1/seg'].value,
                              records['f1/sdf'].value)


def test_plain_gate_is_one_per_task():
    selector = _selector(dict(type='DepthwiseExpertSelector'))
    block = selector.blocks[0]
    assert not block.task_conditioned and block.shared_gate is None
    assert list(block.gates) == TASKS
    assert block.gates['seg'] is not block.gates['sdf']


# ----------------------------------------------------------- aux losses
@pytest.mark.parametrize('name', sorted(SELECTORS))
def test_aux_losses_only_when_configured(name):
    selector = _selector(SELECTORS[name])
    selector(_feats())
    expected = ({'loss_gate_balance', 'loss_expert_orth'}
                if name == 'dw_experts' else set())
    assert set(selector.aux_losses()) == expected


def test_aux_losses_average_over_scales_and_tasks():
    selector = _selector(dict(
        type='MultiScaleTaskSelector',
        plan=['dw_experts', 'task_dw', 'dw_experts'],
        dw_experts=dict(gate_losses=[
            dict(type='GateBalanceLoss', loss_weight=0.5),
            dict(type='GateSharpnessLoss', loss_weight=2.0)])))
    selector(_feats())
    losses = selector.aux_losses()
    assert set(losses) == {'loss_gate_balance', 'loss_gate_sharpness'}
    balance, sharp = selector.blocks[0].gate_losses
    alphas = [r.value for k, r in selector.records().items()
              if not k.startswith('f2/')]
    assert len(alphas) == 2 * len(TASKS)
    torch.testing.assert_close(
        losses['loss_gate_balance'],
        torch.stack([balance(a) for a in alphas]).mean())
    torch.testing.assert_close(
        losses['loss_gate_sharpness'],
        torch.stack([sharp(a) for a in alphas]).mean())
    assert losses['loss_gate_balance'].requires_grad


@pytest.mark.parametrize('experts', [
    [dict(type='DWConvExpert'), dict(type='DWConvExpert', dilation=2),
     dict(type='DWConvExpert', kernel_size=5), dict(type='IdentityExpert')],
    [dict(type='DWConvExpert'), dict(type=TanhDWExpert)],
], ids=['fused', 'stack'])
def test_orth_loss_is_the_spec_sum_over_scales(experts):
    """L_orth = w * sum_i mean_b sum_{k != k'} cos(e_{i,k}, e_{i,k'}),
    against cosines of the flattened outputs computed here directly."""
    selector = _selector(dict(
        type='MultiScaleTaskSelector',
        plan=['dw_experts', 'identity', 'dw_experts'],
        dw_experts=dict(
            experts=experts,
            orth_loss=dict(type='ExpertOrthogonalityLoss', loss_weight=0.1,
                           loss_name='loss_div'))))
    feats = _feats(requires_grad=True)
    selector(feats)
    losses = selector.aux_losses()
    assert set(losses) == {'loss_div'}
    expected = 0
    for block, f in ((selector.blocks[0], feats[0]),
                     (selector.blocks[2], feats[2])):
        flat = torch.stack([e(f) for e in block.experts], 1).flatten(2)
        k = flat.shape[1]
        for a in range(k):
            for c in range(k):
                if a != c:
                    cos = nn.functional.cosine_similarity(
                        flat[:, a], flat[:, c], dim=1)
                    expected = expected + 0.1 * cos.mean()
    torch.testing.assert_close(losses['loss_div'], expected)
    grads = torch.autograd.grad(expected, [feats[0], feats[2]])
    losses['loss_div'].backward()  # reaches the experts and the encoder
    assert selector.blocks[0].experts[0].conv.weight.grad is not None
    assert feats[1].grad is None
    for f, g in zip((feats[0], feats[2]), grads):
        torch.testing.assert_close(f.grad, g)


def test_nothing_is_kept_for_an_unconfigured_orth_loss():
    block = DepthwiseExpertBlock(4, ['a'])
    block(torch.randn(1, 4, 5, 5))
    assert block.orth_loss is None and block._last_input is None
    assert block.loss_terms() == {}


# ------------------------------------------------------------- the plan
E3_EXPERTS = ['DWConvExpert', 'DWConvExpert', 'DWConvExpert',
              'IdentityExpert']


@pytest.mark.parametrize('config, plan', [
    ('e1_taskdw.py', ['task_dw'] * 5),
    ('e2_lre_free.py', ['dw_experts'] * 5),
    ('e3_lre_prior.py', ['dw_experts'] * 5),
    ('e4_hybrid_high.py', ['task_dw'] * 4 + ['dw_experts']),
    ('e5_hybrid_midhigh.py', ['task_dw'] * 3 + ['dw_experts'] * 2),
    ('e5b_lre_low.py', ['dw_experts'] * 3 + ['identity'] * 2),
])
def test_configs_are_one_class_with_a_plan(config, plan):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    tasks = list(cfg.model.tasks)
    selector = build_selector(cfg.model.selector, tasks=tasks,
                              in_channels=[2, 4, 8, 8, 8])
    assert isinstance(selector, MultiScaleTaskSelector)
    assert selector.plan == plan
    kinds = {'task_dw': TaskDWBlock, 'dw_experts': DepthwiseExpertBlock,
             'identity': ScaleIdentityBlock}
    assert [type(b) for b in selector.blocks] == [kinds[p] for p in plan]
    for block in selector.blocks_of('dw_experts'):
        names = [type(e).__name__ for e in block.experts]
        if config == 'e2_lre_free.py':
            assert names == ['DWConvExpert'] * 4
        else:
            assert names == E3_EXPERTS
        assert block.detach_gate_input
        assert [type(g).__name__ for g in block.gate_losses] == [
            'GateBalanceLoss']
        assert type(block.orth_loss).__name__ == 'ExpertOrthogonalityLoss'
    for block in selector.blocks_of('task_dw'):
        assert block.detach_input and block.weight == 'channel'
    feats = [torch.randn(1, c, 16 >> i, 16 >> i)
             for i, c in enumerate([2, 4, 8, 8, 8])]
    out = selector(feats)
    assert [f.shape for f in out[tasks[0]]] == [f.shape for f in feats]


def test_fixed_plan_selectors_are_plan_selectors():
    assert issubclass(TaskDWSelector, MultiScaleTaskSelector)
    assert issubclass(DepthwiseExpertSelector, MultiScaleTaskSelector)
    sel = _selector(dict(type='DepthwiseExpertSelector', residual=True))
    assert sel.plan == ['dw_experts'] * 3
    assert all(b.residual for b in sel.blocks)


def test_old_low_rank_names_warn_and_build_the_same_selector():
    new = _selector(dict(type='DepthwiseExpertSelector', residual=True))
    with pytest.warns(FutureWarning, match='LowRankExpertSelector is '
                      'deprecated, use DepthwiseExpertSelector'):
        old = _selector(dict(type='LowRankExpertSelector', residual=True))
    assert isinstance(old, DepthwiseExpertSelector)
    with pytest.warns(FutureWarning, match=r"plan entries \['lowrank'\]"):
        with pytest.warns(FutureWarning, match='model.selector.lowrank is '
                          'deprecated, use model.selector.dw_experts'):
            plan = _selector(dict(type='MultiScaleTaskSelector',
                                  plan=['lowrank'] * 3,
                                  lowrank=dict(residual=True)))
    assert old.plan == plan.plan == new.plan == ['dw_experts'] * 3
    feats = _feats()
    for selector in (old, plan):
        selector.load_state_dict(new.state_dict())
        for task in TASKS:
            for got, want in zip(selector(feats)[task], new(feats)[task]):
                torch.testing.assert_close(got, want)
    with pytest.warns(FutureWarning, match='LowRankExpertBlock'):
        block = LowRankExpertBlock(4, ['a'])
    assert isinstance(block, DepthwiseExpertBlock)
    with pytest.raises(ConfigError, match='dw_experts or its old name'):
        _selector(dict(type='MultiScaleTaskSelector', plan=['identity'] * 3,
                       dw_experts=dict(), lowrank=dict()))


def test_identity_scale_passes_the_same_tensor():
    selector = _selector(dict(type='MultiScaleTaskSelector',
                              plan=['identity', 'task_dw', 'identity']))
    feats = _feats()
    out = selector(feats)
    assert all(out[t][0] is feats[0] and out[t][2] is feats[2]
               for t in TASKS)
    assert sorted(selector.records()) == [f'f2/{t}' for t in
                                               sorted(TASKS)]


@pytest.mark.parametrize('cfg, match', [
    (dict(plan=['task_dw'] * 2), r'model\.selector\.plan must name one of'
     r'.*3 encoder scales'),
    (dict(plan=['task_dw'] * 4), r'model\.selector\.plan .*3 encoder'),
    (dict(plan='task_dw'), r'model\.selector\.plan'),
    (dict(plan=['task_dw', 'dw_experts', 'taskdw']),
     r"model\.selector\.plan has unknown entries \['taskdw'\]"),
    (dict(plan=['task_dw'] * 3, task_dw=dict(kernel=3)),
     r"model\.selector\.task_dw has unknown keys \['kernel'\]"),
    (dict(plan=['task_dw'] * 3, task_dw=dict(weight='pixels')),
     r"model\.selector\.task_dw: weight must be one of"),
    (dict(plan=['dw_experts'] * 3, dw_experts=dict(experts=[])),
     r'model\.selector\.dw_experts: experts is empty'),
])
def test_bad_plan_or_settings_name_the_key(cfg, match):
    with pytest.raises(ConfigError, match=match):
        _selector(dict(type='MultiScaleTaskSelector', **cfg))


def test_settings_for_a_kind_the_plan_does_not_use_warn():
    target = 'featsel.models.selectors.multiscale_task_selector.print_log'
    with mock.patch(target) as log:
        _selector(dict(type='MultiScaleTaskSelector', plan=['task_dw'] * 3,
                       dw_experts=dict(residual=True)))
    (message, ), _ = log.call_args
    assert 'model.selector.dw_experts is set' in message


def test_a_plain_gate_module_is_not_shared_by_tasks():
    with pytest.raises(ConfigError, match='gating is a module'):
        _selector(dict(type='DepthwiseExpertSelector',
                       gating=nn.Conv2d(4, 4, 1)))


@pytest.mark.parametrize('cfg, match', [
    (dict(type='TaskDWSelector', plan=['task_dw'] * 3),
     r'model\.selector\.plan: TaskDWSelector'),
    (dict(type='TaskDWSelector', detach_gate_input=True),
     r"model\.selector has unknown keys \['detach_gate_input'\]"),
    (dict(type='DepthwiseExpertSelector', detach_input=True),
     r"model\.selector has unknown keys \['detach_input'\]"),
])
def test_fixed_plan_selectors_reject_foreign_keys(cfg, match):
    with pytest.raises(ConfigError, match=match):
        _selector(cfg)


# ------------------------------------------------------- whole model
@pytest.mark.parametrize('name', sorted(SELECTORS))
def test_segmentor_trains_with_the_selector(name):
    torch.manual_seed(0)
    model = MODELS.build(tiny_segmentor_cfg(selector=SELECTORS[name]))
    raw, losses = train_tiny(model, steps=30)
    # the model namespaces plug-in losses by the plug-in's path
    assert ('selector.loss_gate_balance' in losses) == (name == 'dw_experts')
    assert ('selector.loss_expert_orth' in losses) == (name == 'dw_experts')
    assert raw[-1] < 0.7 * raw[0]
    assert set(model.selector.records()) >= {'f2/seg', 'f2/bnd'}
