"""Steps timed in turn, and amounts spent inside model parts."""
from torch import nn

from featsel.analysis.flops import spent_in_modules
from featsel.analysis.timing import time_alternately


def test_time_alternately_interleaves():
    calls = []
    steps = {name: (lambda n=name: calls.append(n)) for name in 'ab'}
    times = time_alternately(steps, warmup=1, repeats=2)
    assert calls == ['a', 'b'] * 3
    assert [len(t) for t in times.values()] == [2, 2]


class Counting(nn.Module):
    """Adds ``amount`` to a shared running total when called."""

    def __init__(self, total: list, amount: int, child=None) -> None:
        super().__init__()
        self.total, self.amount, self.child = total, amount, child

    def forward(self):
        self.total[0] += self.amount
        if self.child is not None:
            self.child()


def test_spent_in_modules_includes_children_and_repeats():
    total = [0]
    model = nn.Module()
    model.outer = Counting(total, 5, child=Counting(total, 3))
    model.other = Counting(total, 2)
    spent = {}
    with spent_in_modules(model, ['outer', 'outer.child', 'other'],
                          lambda: total[0], spent):
        model.outer()
        model.outer()
        model.other()
    assert spent == {'outer': 2 * (5 + 3), 'outer.child': 2 * 3, 'other': 2}
    model.outer()  # the hooks are gone
    assert spent['outer'] == 16
