"""Peak tensor memory of a step, counted from allocations in time order."""
import torch
from torch import nn

from featsel.analysis.memory import MIB, peak_memory_bytes, peak_memory_mib

FLOATS_PER_MIB = MIB // 4


def test_tensors_alive_together_add_up():
    def together():
        a = torch.ones(FLOATS_PER_MIB)
        b = torch.ones(FLOATS_PER_MIB)
        return a, b

    def one_after_the_other():
        for _ in range(3):
            torch.ones(FLOATS_PER_MIB)

    assert peak_memory_mib(together) == 2.0
    assert peak_memory_mib(one_after_the_other) == 1.0


def test_first_adam_step_holds_grads_and_two_moments():
    """At ``optimizer.step`` the gradients and AdamW's two moment buffers
    (each the size of the parameters) are alive at once; the update adds a
    few parameter-sized temporaries (e.g. ``sqrt(v) + eps``)."""
    torch.manual_seed(0)
    model = nn.Linear(256, 256)
    optimizer = torch.optim.AdamW(model.parameters())
    x = torch.randn(4, 256)
    param_bytes = 4 * (256 * 256 + 256)

    def step():
        model(x).sum().backward()
        optimizer.step()

    peak = peak_memory_bytes(step)
    assert 3 * param_bytes <= peak < 6 * param_bytes
