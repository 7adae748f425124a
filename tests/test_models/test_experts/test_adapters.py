"""Per-task adapters: identity at initialisation, parameter counts against
their formulas, which parameters learn first, LoRA's merged kernel."""
import pytest
import torch
from mmengine.model import BaseModule
from torch import nn

from featsel.models import BottleneckAdapter, ConvLoRA, FiLM, build_expert

ADAPTERS = [
    dict(type='BottleneckAdapter', ratio=1 / 16),
    dict(type='ConvLoRA', rank=4),
    dict(type='FiLM'),
]


def _conv(channels: int) -> nn.Conv2d:
    torch.manual_seed(1)
    return nn.Conv2d(channels, channels, 3, padding=1)


@pytest.mark.parametrize('cfg', ADAPTERS, ids=lambda c: c['type'])
def test_identity_at_init(cfg):
    torch.manual_seed(0)
    adapter = build_expert(dict(cfg, channels=16))
    conv = _conv(16)
    x = torch.randn(2, 16, 9, 7)
    assert torch.equal(adapter(x, conv), conv(x))
    assert torch.equal(adapter(x), x)  # no block: acts on x itself


@pytest.mark.parametrize('channels,ratio,hidden', [
    (256, 1 / 16, 16), (512, 1 / 32, 16), (16, 1 / 16, 8), (4, 1 / 16, 4)])
def test_bottleneck_width_and_parameters(channels, ratio, hidden):
    adapter = BottleneckAdapter(channels, ratio=ratio)
    assert adapter.hidden_channels == hidden
    c, m = channels, hidden
    assert sum(p.numel() for p in adapter.parameters()) == \
        2 * c * m + 10 * m + 2 * c


@pytest.mark.parametrize('rank,kernel', [(4, 3), (8, 1)])
def test_lora_parameters(rank, kernel):
    adapter = ConvLoRA(32, rank=rank, kernel_size=kernel)
    assert sum(p.numel() for p in adapter.parameters()) == \
        kernel**2 * 32 * rank + rank * 32
    assert adapter.receptive_radius == kernel // 2


def test_film_parameters():
    assert sum(p.numel() for p in FiLM(24).parameters()) == 48


def _grads(adapter: nn.Module, conv: nn.Module) -> dict:
    x = torch.randn(2, adapter.channels, 8, 8)
    adapter(x, conv).square().sum().backward()
    return {name: p.grad.abs().sum().item()
            for name, p in adapter.named_parameters()}


def test_first_gradients_reach_gate_and_lora_b_only():
    torch.manual_seed(0)
    grads = _grads(BottleneckAdapter(16), _conv(16))
    assert grads['gate'] > 0
    assert all(v == 0 for k, v in grads.items() if k != 'gate')
    grads = _grads(ConvLoRA(16, rank=4), _conv(16))
    assert grads['lora_b.weight'] > 0 and grads['lora_a.weight'] == 0
    grads = _grads(FiLM(16), _conv(16))
    assert grads['gamma'] > 0 and grads['beta'] > 0


def test_lora_equals_conv_with_merged_kernel():
    """``conv(x) + (α/r) B(A(x)) == conv(x; W + (α/r) B A)``."""
    torch.manual_seed(0)
    conv = _conv(8)
    lora = ConvLoRA(8, rank=4, alpha=8.0)
    nn.init.normal_(lora.lora_b.weight)
    merged = nn.Conv2d(8, 8, 3, padding=1)
    delta = torch.einsum('or,rikl->oikl', lora.lora_b.weight[:, :, 0, 0],
                         lora.lora_a.weight)
    merged.weight.data = conv.weight.data + 2.0 * delta
    merged.bias.data = conv.bias.data
    x = torch.randn(2, 8, 10, 10)
    torch.testing.assert_close(lora(x, conv), merged(x), atol=1e-5,
                               rtol=1e-5)


class _Parent(BaseModule):

    def __init__(self, adapter):
        super().__init__(init_cfg=[
            dict(type='Kaiming', layer='Conv2d'),
            dict(type='Normal', std=1.0, layer=['FiLM'])])
        self.adapter = adapter


@pytest.mark.parametrize('cfg', ADAPTERS, ids=lambda c: c['type'])
def test_parent_initialisation_keeps_identity(cfg):
    adapter = build_expert(dict(cfg, channels=8))
    for p in adapter.parameters():  # as if trained, then re-initialised
        nn.init.normal_(p)
    _Parent(adapter).init_weights()
    x = torch.randn(1, 8, 5, 5)
    assert torch.equal(adapter(x), x)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='ratio'):
        BottleneckAdapter(8, ratio=0)
    with pytest.raises(ValueError, match='rank'):
        ConvLoRA(8, rank=0)
    with pytest.raises(ValueError, match='kernel_size'):
        ConvLoRA(8, kernel_size=2)
    with pytest.raises(ValueError, match='channels'):
        FiLM(0)
