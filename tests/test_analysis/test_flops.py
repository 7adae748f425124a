"""FLOPs against hand counts; the fused expert mixing is counted; unknown
operators are named."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from featsel.analysis.flops import (FLOPS_CONVENTION, UncountedOpWarning,
                                    count_flops)
from featsel.models.experts import DWConvExpert, IdentityExpert
from featsel.models.layers import mix_experts, mix_experts_naive


class TinyMixture(nn.Module):
    """stem conv -> softmax gate -> sum of 3 experts -> pooled linear."""

    def __init__(self, fused: bool = True) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.experts = nn.ModuleList([
            DWConvExpert(4, kernel_size=3),
            DWConvExpert(4, kernel_size=5),
            IdentityExpert(4)
        ])
        self.head = nn.Linear(4, 2)
        self.mix = mix_experts if fused else mix_experts_naive

    def forward(self, x):
        f = self.stem(x)
        alpha = f[:, :3].softmax(1)  # (B, 3, H, W), one weight per expert
        y = self.mix(f, alpha, self.experts)
        return self.head(y.mean((2, 3)))


# Hand count for a 1x3x8x8 input, 2 FLOPs per multiply-add, biases and
# element-wise ops not counted:
#   stem  conv 3x3, 3 -> 4 channels:  2 * 4 * 3 * 3*3 * 8*8  = 13824
#   expert DW 3x3 on 4 channels:      2 * 4 * 1 * 3*3 * 8*8  =  4608
#   expert DW 5x5 on 4 channels:      2 * 4 * 1 * 5*5 * 8*8  = 12800
#   expert identity:                                             0
#   gate-weighted sum, softmax, mean: element-wise               0
#   head  linear 4 -> 2:              2 * 4 * 2              =    16
STEM, DW3, DW5, HEAD = 13824, 4608, 12800, 16
assert (STEM, DW3, DW5, HEAD) == (2 * 4 * 3 * 9 * 64, 2 * 4 * 9 * 64,
                                  2 * 4 * 25 * 64, 2 * 4 * 2)


@pytest.mark.parametrize('fused', [True, False])
def test_hand_count_with_expert_mixing(fused):
    torch.manual_seed(0)
    model = TinyMixture(fused).eval()
    x = torch.randn(1, 3, 8, 8)
    count = count_flops(model, lambda: model(x))
    assert count.total == STEM + DW3 + DW5 + HEAD == 31248
    assert count.by_module['stem'] == STEM
    assert count.by_module['head'] == HEAD
    assert count.by_op == {'aten.convolution': STEM + DW3 + DW5,
                           'aten.addmm': HEAD}
    assert count.unknown == {}


def test_fused_mixing_runs_in_an_autograd_function():
    """The case the counter must see into: forward hooks of fused experts
    are not called, the convolutions inside the Function are counted."""
    model = TinyMixture(fused=True).eval()
    called = []
    model.experts[0].register_forward_hook(lambda *a: called.append(1))
    count = count_flops(model, lambda: model(torch.randn(1, 3, 8, 8)))
    assert called == []  # the expert module never ran as a module
    assert count.by_module.get('experts.0', 0) == 0
    assert count.total - STEM - HEAD == DW3 + DW5


def test_batch_and_size_scale_the_count():
    model = TinyMixture().eval()
    x = torch.randn(2, 3, 16, 8)  # 2 images of twice the pixels
    count = count_flops(model, lambda: model(x))
    assert count.total == 2 * 2 * (STEM + DW3 + DW5) + 2 * HEAD


def test_unknown_operator_is_named():
    lib = torch.library.Library('featsel_test', 'DEF')
    lib.define('mystery(Tensor x) -> Tensor')
    lib.impl('mystery', lambda x: x * 2, 'CompositeExplicitAutograd')

    class Mystery(nn.Module):
        def forward(self, x):
            return torch.ops.featsel_test.mystery(x)

    model = Mystery()
    with pytest.warns(UncountedOpWarning, match='featsel_test.mystery'):
        count = count_flops(model, lambda: model(torch.ones(2)))
    assert count.unknown == {'featsel_test.mystery': 1}
    assert 'featsel_test.mystery x1' in count.unknown_note()


def test_convention_is_stated():
    assert '2 per multiply-add' in FLOPS_CONVENTION


def test_attention_counted_on_cpu_and_windows_free():
    """Attention is two matrix products (QK^T and AV) on any device; window
    creation is free and never reported as unknown work."""
    q = torch.randn(1, 2, 16, 8)
    found = count_flops(nn.Identity(),
                        lambda: F.scaled_dot_product_attention(q, q, q),
                        warn=False)
    # 2 heads x 2 products x (16 x 16 x 8 MACs) x 2 FLOPs/MAC
    assert found.total == 2 * 2 * 16 * 16 * 8 * 2
    assert not found.unknown
    window = count_flops(nn.Identity(), lambda: torch.hann_window(8),
                         warn=False)
    assert window.total == 0 and not window.unknown
