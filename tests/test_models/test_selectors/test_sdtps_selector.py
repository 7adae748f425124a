"""SDTPSSelector: 128 -> 64 -> 25 + 1 tokens, the last selection, the
paper and official implementations end to end, random selection, config
building and the diagnostics logged by PluginHook."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from torch import nn

from featsel.engine.hooks import PluginHook
from featsel.models import (build_token_selector, collect_aux_losses,
                            list_components)
from featsel.models.base import ScalarRecord
from featsel.models.selectors import SDTPSSelector
from featsel.registry import SELECTORS
from featsel.utils import ConfigError

C = 16
N = 128


def _selector(seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('embed_dims', C)
    kwargs.setdefault('num_tokens', N)
    return SDTPSSelector(**kwargs)


def _inputs(b=2, num_others=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, N, C, generator=g), torch.randn(b, C, generator=g),
            [torch.randn(b, C, generator=g) for _ in range(num_others)])


@pytest.mark.parametrize('num_others', [0, 1, 2])
def test_128_to_64_to_25_plus_1(num_others):
    selector = _selector().eval()
    out = selector(*_inputs(num_others=num_others))
    assert selector.sparse.num_kept(N) == 64
    assert selector.aggregation.num_out == 25
    assert out.shape == (2, 26, C) and selector.num_out == 26
    sel = selector.last_selection
    assert sel['kept_index'].shape == (2, 64)
    assert sel['scores'].shape == (2, N)
    assert sel['aggr_weights'].shape == (2, 25, 64)
    assert not any(v.requires_grad for v in sel.values())


def test_output_is_the_aggregated_kept_tokens_then_the_extra_token():
    selector = _selector().eval()
    inputs = _inputs()
    out = selector(*inputs)
    sparse = selector.sparse(*inputs)
    torch.testing.assert_close(out[:, -1:], sparse.extra)
    torch.testing.assert_close(
        out[:, :-1], torch.bmm(selector.last_selection['aggr_weights'],
                               sparse.kept))
    assert torch.equal(selector.last_selection['kept_index'], sparse.index)


def test_paper_score_mlp_learns_from_the_kept_tokens():
    """Loss on the aggregated tokens only (no extra token): the predictor
    gets a gradient in the paper implementation."""
    selector = _selector(decision='hard').train()
    patches, own, others = _inputs()
    out = selector(patches.requires_grad_(True), own, others)
    out[:, :-1].pow(2).sum().backward()
    grad = sum(p.grad.abs().sum() for p in
               selector.sparse.predictor.parameters())
    assert grad > 0
    assert float(selector.records()['score_grad_norm'].value) > 0


def test_official_passes_no_gradient_through_the_selection():
    selector = _selector(impl='official').train()
    patches, own, others = _inputs()
    out = selector(patches.requires_grad_(True), own, others)
    out.pow(2).sum().backward()
    assert patches.grad is None            # the whole selection: no_grad
    assert selector.sparse.predictor is None
    assert 'score_grad_norm' not in selector.records()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in selector.aggregation.parameters())


def test_paper_masks_the_aggregation_by_the_decision():
    """Per-token Gumbel: kept tokens drawn as dropped (D = 0) get no
    aggregation weight; the others share all of it."""
    selector = _selector(decision='gumbel_token').train()
    inputs = _inputs()
    torch.manual_seed(1)
    selector(*inputs)
    torch.manual_seed(1)                   # the same draws again
    decision = selector.sparse(*inputs).kept_decision.detach()
    assert 0 < decision.sum() < decision.numel()
    weights = selector.last_selection['aggr_weights']
    off = (decision == 0).unsqueeze(1).expand_as(weights)
    assert weights[off].max() < 1e-6
    torch.testing.assert_close(
        (weights * decision.unsqueeze(1)).sum(-1), torch.ones(2, 25),
        atol=1e-5, rtol=0)


def test_random_selection_through_the_attribute():
    selector = _selector().eval()
    inputs = _inputs()
    selector(*inputs)
    by_score = selector.last_selection['kept_index']
    selector.selection = 'random'
    assert selector.sparse.selection == 'random'
    torch.manual_seed(0)
    out = selector(*inputs)
    chosen = selector.last_selection['kept_index']
    assert out.shape == (2, 26, C) and chosen.shape == by_score.shape
    assert not torch.equal(chosen.sort(1).values, by_score.sort(1).values)


def test_ratio_loss_and_records_reach_a_model():
    model = nn.Module()
    model.selectors = nn.ModuleDict(
        {'RGB': _selector(decision='gumbel_token')})
    model.train()
    torch.manual_seed(0)
    model.selectors['RGB'](*_inputs())
    losses = collect_aux_losses(model)
    assert list(losses) == ['selectors.RGB.loss_ratio']
    records = model.selectors['RGB'].records()
    assert all(isinstance(r, ScalarRecord) for r in records.values())
    assert 'kept_ratio' in records and 'score_m_std' in records


def test_plugin_hook_logs_the_diagnostics():
    model = nn.Module()
    model.selector = _selector()
    model.train()
    out = model.selector(*_inputs())
    out.pow(2).sum().backward()
    runner = SimpleNamespace(
        model=model, epoch=0, iter=0, logger=None,
        message_hub=MessageHub.get_instance('sdtps_selector_test'))
    PluginHook(interval=1).after_train_iter(runner, 0)
    scalars = runner.message_hub.log_scalars
    grad = scalars['train/diag/selector/score_grad_norm'].current()
    assert grad == pytest.approx(
        float(model.selector.records()['score_grad_norm'].value))
    assert scalars['train/diag/selector/kept_ratio'].current() == 0.5
    assert 'train/diag/selector/score_p_mean' in scalars


def test_builds_from_a_config_and_is_listed():
    assert 'SDTPSSelector' in list_components('token_selector')
    selector = SELECTORS.build(dict(type='SDTPSSelector', embed_dims=C,
                                    num_tokens=N, impl='official'))
    assert selector.impl == 'official'
    assert selector.aggregation.impl == 'official'
    built = build_token_selector(dict(type='SDTPSSelector'), embed_dims=C,
                                 num_tokens=32)
    assert built.num_out == 6 + 1
    with pytest.raises(TypeError, match='not a token_selector'):
        build_token_selector(dict(type='IdentitySelector', tasks=['a'],
                                  in_channels=[4]))


def test_hard_decision_with_a_ratio_loss_warns():
    with pytest.warns(UserWarning, match='ratio_loss_weight'):
        _selector(decision='hard', ratio_loss_weight=1.0)


def test_wrong_token_count_names_num_tokens():
    selector = _selector()
    patches, own, others = _inputs()
    with pytest.raises(ConfigError, match='num_tokens=128'):
        selector(patches[:, :100], own, others)
