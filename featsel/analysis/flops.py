"""FLOPs of a model, counted operator by operator.

Convention (:data:`FLOPS_CONVENTION`, printed under every table): **one
multiply-add is 2 FLOPs**, counted for convolutions (grouped and depthwise
included), matrix products (linear layers, ``bmm``, ``addmm``) and attention,
with the formulas of :mod:`torch.utils.flop_counter`; e.g. a k x k conv from
``C_in`` to ``C_out`` channels on an ``H x W`` output costs
``2 * C_out * (C_in / groups) * k * k * H * W``.

The counter is a ``TorchDispatchMode``: it sees every ATen operator that
runs, also inside autograd Functions (the fused expert mixing of
:mod:`featsel.models.layers.expert_mixing` runs its depthwise convolutions
there, so they are counted like any other convolution). Not counted, by
convention: element-wise operators and reductions (tagged ``pointwise`` /
``reduction`` by ATen; the gate-weighted sum of the expert mixing is one),
normalisation, softmax, pooling, resampling, sorting and data movement
(:data:`NOT_COUNTED`). Every other operator without a formula is unknown
work: it is listed in :attr:`FlopCount.unknown` and warned about by name
(:class:`UncountedOpWarning`), never skipped silently.
"""
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, Mapping, Optional, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import (flop_registry, register_flop_formula,
                                      sdpa_flop)

FLOPS_CONVENTION = (
    'FLOPs: 2 per multiply-add of convolutions, matrix products and '
    'attention, counted per ATen operator (inside autograd Functions too, '
    'e.g. the fused expert mixing); element-wise ops, reductions, '
    'normalisation, softmax, pooling, resampling and data movement are not '
    'counted.')

#: ATen operators (overload packet names) that are not counted by
#: convention besides those tagged pointwise or reduction and views:
#: their cost is linear in the tensor size or they move data only.
NOT_COUNTED = frozenset({
    # normalisation, softmax, pooling, resampling
    'native_batch_norm', '_native_batch_norm_legit',
    '_native_batch_norm_legit_no_training', 'native_layer_norm',
    'native_group_norm', '_softmax', '_log_softmax', 'max_pool2d_with_indices',
    'avg_pool2d', '_adaptive_avg_pool2d', 'adaptive_max_pool2d',
    'upsample_nearest2d', 'upsample_bilinear2d', 'upsample_bicubic2d',
    'grid_sampler_2d', 'cumsum', 'native_dropout',
    # sorting, selection, indexing
    'topk', 'sort', 'argsort', 'nonzero', 'index', 'index_put',
    'index_put_', 'index_select', 'gather', 'scatter', 'scatter_add',
    'scatter_add_', 'masked_select', 'masked_scatter', 'where', 'unique2',
    '_unique2', 'bucketize', 'bincount', 'index_add', 'index_add_',
    # creation, copies, shape changes, scalars
    'cat', 'stack', 'clone', 'copy_', '_to_copy', 'contiguous', 'empty',
    'empty_like', 'empty_strided', 'zeros', 'zeros_like', 'ones',
    'ones_like', 'full', 'full_like', 'fill_', 'zero_', 'new_zeros',
    'new_ones', 'new_empty', 'new_full', 'new_empty_strided', 'arange',
    'linspace', 'rand', 'randn', 'randint', 'rand_like', 'randn_like',
    'normal_', 'uniform_', 'bernoulli_', 'scalar_tensor', 'lift_fresh',
    'lift_fresh_copy', 'constant_pad_nd', 'repeat', 'flip', 'roll',
    'split_with_sizes', 'split', 'unbind', 'resize_', 'set_',
    '_local_scalar_dense', 'equal', 'is_nonzero', 'detach_', 'one_hot',
    'meshgrid', 'tril', 'triu', 'masked_fill', 'masked_fill_',
    'hann_window', 'hamming_window', 'bartlett_window', 'blackman_window',
    '_unsafe_view', 'promote_types',
    # element-wise ops ATen does not tag pointwise
    'floor_divide', 'clamp_min', 'clamp_max',
})


def _count_cpu_attention() -> None:
    """Give the CPU kernel of ``scaled_dot_product_attention`` the formula
    torch has for its CUDA kernels (two matrix products), so attention is
    counted on a CPU too."""
    op = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu',
                 None)
    if op is not None and op not in flop_registry:
        # sdpa_flop is already shape-wrapped: register it as it is
        register_flop_formula(op, get_raw=True)(sdpa_flop)


_count_cpu_attention()


class UncountedOpWarning(UserWarning):
    """An operator ran that has no FLOP formula and is not excluded by the
    convention: its work is missing from the total."""


@dataclass
class FlopCount:
    """FLOPs of one run.

    Attributes:
        total (int): FLOPs of the whole run (see :data:`FLOPS_CONVENTION`).
        by_module (dict[str, int]): FLOPs spent inside each measured module
            (``''`` is the model), children included.
        by_op (dict[str, int]): FLOPs per counted operator.
        unknown (dict[str, int]): Operators without a formula that the
            convention does not exclude -> how often they ran.
    """

    total: int
    by_module: Dict[str, int] = field(default_factory=dict)
    by_op: Dict[str, int] = field(default_factory=dict)
    unknown: Dict[str, int] = field(default_factory=dict)

    def unknown_note(self) -> Optional[str]:
        """One line naming the unknown operators, or None."""
        if not self.unknown:
            return None
        listed = ', '.join(f'{op} x{n}' for op, n in sorted(
            self.unknown.items()))
        return f'not in the FLOPs (no formula, unknown work): {listed}'


def _is_excluded(func) -> bool:
    tags = set(func.tags)
    name = func._overloadpacket.__name__
    return (torch.Tag.pointwise in tags or torch.Tag.reduction in tags
            or func.is_view or name in NOT_COUNTED
            or name.rstrip('_') in NOT_COUNTED)


class FlopCounter(TorchDispatchMode):
    """Adds up the FLOPs of every operator run while it is active.

    ``total`` grows as operators run, so a part's FLOPs are the difference
    of ``total`` before and after it (see :func:`spent_in_modules`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.by_op: Counter = Counter()
        self.unknown: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        if packet in flop_registry:
            flops = int(flop_registry[packet](*args, **kwargs, out_val=out))
            self.total += flops
            self.by_op[str(packet)] += flops
        elif not _is_excluded(func):
            self.unknown[str(packet)] += 1
        return out


@contextmanager
def spent_in_modules(model: nn.Module, names: Sequence[str],
                     read: Callable[[], float],
                     spent: Dict[str, float]) -> Iterator[None]:
    """Add to ``spent[name]`` how much ``read()`` grows inside each call of
    module ``name`` (children included), via forward hooks.

    ``read`` is a running total: a FLOP counter's ``total`` or a clock.
    Modules run inside a fused autograd Function (whose forward hooks are
    not called) count towards the module around the Function.
    """
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise KeyError(f'{type(model).__name__} has no modules {missing}')
    handles = []
    for name in names:
        starts = []

        def pre(_m, _a, starts=starts):
            starts.append(read())

        def post(_m, _a, _o, name=name, starts=starts):
            spent[name] = spent.get(name, 0) + read() - starts.pop()

        handles += [modules[name].register_forward_pre_hook(pre),
                    modules[name].register_forward_hook(post)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _fill_containers(model: nn.Module, spent: Dict[str, float]) -> None:
    """Give modules that never ran as a whole (``ModuleList``,
    ``ModuleDict``) the sum of their children, deepest first."""
    for name, module in reversed(list(model.named_modules())):
        if name in spent:
            continue
        prefix = f'{name}.' if name else ''
        children = [spent[prefix + child] for child, _ in
                    module.named_children() if prefix + child in spent]
        if children:
            spent[name] = sum(children)


def count_flops(model: nn.Module, run: Callable[[], object],
                modules: Optional[Sequence[str]] = None,
                warn: bool = True) -> FlopCount:
    """FLOPs of ``run()`` (e.g. one ``model.test_step``), no grad.

    Args:
        model (nn.Module): The model ``run`` calls.
        run (Callable): What to count.
        modules (Sequence[str], optional): Module names to break the count
            down to; all modules when None.
        warn (bool): Warn (:class:`UncountedOpWarning`) about each unknown
            operator.
    """
    names = [n for n, _ in model.named_modules()] if modules is None \
        else list(modules)
    counter = FlopCounter()
    spent: Dict[str, float] = {}
    with torch.no_grad(), spent_in_modules(model, names,
                                           lambda: counter.total, spent):
        with counter:
            run()
    spent[''] = counter.total
    if modules is None:
        _fill_containers(model, spent)
    count = FlopCount(counter.total, {k: int(v) for k, v in spent.items()},
                      dict(counter.by_op), dict(counter.unknown))
    if warn:
        for op, calls in sorted(count.unknown.items()):
            warnings.warn(f'FLOPs: operator {op} ran {calls} time(s) and has '
                          'no FLOP formula; its work is not counted',
                          UncountedOpWarning, stacklevel=2)
    return count


def inference_flops(model: nn.Module, batch: Mapping,
                    modules: Optional[Sequence[str]] = None,
                    warn: bool = True) -> FlopCount:
    """FLOPs of one ``model.test_step(batch)`` (preprocessing and
    ``predict``) in eval mode; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        return count_flops(model, lambda: model.test_step(batch), modules,
                           warn)
    finally:
        model.train(was_training)
