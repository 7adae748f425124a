"""The plug-in protocol of ``featsel.models.base``: outermost plug-ins,
aux losses namespaced by the module path, records, set_progress."""
import warnings

import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

from featsel.models import (GateRecord, LearnableTokenPruner, MoEFFN,
                            Plugin, ScheduleRecord, UsageRecord,
                            collect_aux_losses, collect_records,
                            find_plugins, set_progress)
from featsel.registry import MODELS
from tests.test_models.helpers import synthetic_batch, tiny_segmentor_cfg


class Fixed(Plugin, nn.Module):
    """A plug-in reporting a fixed loss and one record."""

    def __init__(self, value: float, inner: nn.Module = None) -> None:
        super().__init__()
        self.value = value
        self.inner = inner
        self.progress = None

    def aux_losses(self):
        return {'loss_reg': torch.tensor(self.value)}

    def records(self):
        return {'ratio': ScheduleRecord(self.value)}

    def set_progress(self, epoch, iter, max_epochs=None, max_iters=None):
        self.progress = (epoch, iter, max_epochs, max_iters)
        super().set_progress(epoch, iter, max_epochs, max_iters)


def test_find_plugins_returns_the_outermost_only():
    inner = Fixed(1.0)
    model = nn.Module()
    model.a = Fixed(2.0, inner=inner)
    model.stack = nn.ModuleList([Fixed(3.0), Fixed(5.0)])
    assert [p for p, _ in find_plugins(model)] == [
        'a', 'stack.0', 'stack.1']
    assert find_plugins(model.a) == [('', model.a)]
    assert find_plugins(model.a, include_self=False) == [('inner', inner)]


def test_default_set_progress_reaches_nested_plugins():
    inner = Fixed(1.0)
    model = nn.Module()
    model.a = Fixed(2.0, inner=inner)
    set_progress(model, 1.5, 30, max_epochs=4, max_iters=80)
    assert model.a.progress == inner.progress == (1.5, 30, 4, 80)


def test_aux_losses_are_namespaced_and_stacks_averaged():
    model = nn.Module()
    model.selector = Fixed(2.0)
    model.decoder = Fixed(3.0)
    model.layers = nn.ModuleList([Fixed(1.0), Fixed(5.0)])
    losses = collect_aux_losses(model)
    assert set(losses) == {'selector.loss_reg', 'decoder.loss_reg',
                           'layers.loss_reg'}
    assert losses['selector.loss_reg'].item() == 2.0
    assert losses['decoder.loss_reg'].item() == 3.0
    assert losses['layers.loss_reg'].item() == 3.0  # mean of 1 and 5


def test_records_carry_path_name_and_type():
    torch.manual_seed(0)
    model = nn.Module()
    model.pruner = LearnableTokenPruner(embed_dims=4, hidden_dims=2,
                                        keep_ratio=0.5, warmup_epochs=4)
    model.ffn = MoEFFN(embed_dims=4, num_experts=2, top_k=1,
                       expert=dict(type='FFNExpert', hidden_dims=4))
    assert collect_records(model) == [
        ('pruner', 'keep_ratio', ScheduleRecord(0.5))]
    model.ffn(torch.randn(3, 4))
    set_progress(model, epoch=1, iter=0)
    (path, name, ratio), (ffn_path, ffn_name, usage) = collect_records(model)
    assert (path, name, ffn_path, ffn_name) == (
        'pruner', 'keep_ratio', 'ffn', 'expert_load')
    assert ratio.value == pytest.approx(1 - 0.25 * 0.5)
    assert isinstance(usage, UsageRecord) and usage.top_k == 1
    assert usage.load.sum().item() == pytest.approx(1.0)


def test_deprecated_names_still_work():
    pruner = LearnableTokenPruner(embed_dims=4, hidden_dims=2,
                                  keep_ratio=0.5, warmup_epochs=4)
    with pytest.warns(DeprecationWarning, match='set_progress'):
        pruner.set_epoch(2)
    assert pruner.current_keep_ratio == pytest.approx(0.75)
    part = Fixed(1.0)
    part.records = lambda: {'f1/seg': GateRecord('sigmoid', torch.ones(1)),
                            'ratio': ScheduleRecord(1.0)}
    with pytest.warns(DeprecationWarning, match='records'):
        assert list(part.gate_records()) == ['f1/seg']


def test_selector_and_patchgate_terms_with_one_name_are_both_summed():
    """The selector and the PatchGate decoder both use GateBalanceLoss
    under its default name: both terms are in the loss dict, under the
    plug-ins' paths, and mmengine's parse_losses sums both."""
    balance = dict(type='GateBalanceLoss', loss_weight=1.0)
    cfg = tiny_segmentor_cfg(
        decoder=dict(type='PatchGateDecoder', channels=4,
                     gate_losses=[balance]),
        selector=dict(type='DepthwiseExpertSelector', gate_losses=[balance]),
        loss_weighting=dict(type='FixedTaskWeights'))
    torch.manual_seed(0)
    model: BaseModel = MODELS.build(cfg)
    inputs, samples = synthetic_batch()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # deprecated name
        losses = model(inputs, samples, mode='loss')
    selector = model.selector.aux_losses()['loss_gate_balance']
    decoder = model.decoder.aux_losses()['loss_gate_balance']
    assert losses['selector.loss_gate_balance'].item() == pytest.approx(
        selector.item())
    assert losses['decoder.loss_gate_balance'].item() == pytest.approx(
        decoder.item())
    assert 'loss_gate_balance' not in losses
    assert selector.item() != pytest.approx(decoder.item())
    total, _ = model.parse_losses(losses)
    expected = sum(v for k, v in losses.items() if 'loss' in k)
    assert total.item() == pytest.approx(expected.item())
    assert total.item() > (losses['loss_seg'] + losses['loss_sdf']
                           + losses['loss_bnd'] + decoder).item()
