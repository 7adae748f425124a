"""Peak tensor memory of a step.

CUDA: ``torch.cuda.max_memory_allocated`` during the step minus what was
allocated before it. CPU: the same quantity from the allocation and free
events that ``torch.profiler`` records (``profile_memory=True``), summed in
time order. Both count tensors exactly (parameters and inputs that exist
before the step are the baseline, not counted), and leave out allocator
caching and library scratch buffers, so the two devices report the same
kind of number.
"""
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from .timing import synchronize

MIB = 2**20

MEMORY_NOTE = (
    'peak memory: the largest total of live tensors during the step above '
    'what was allocated before it (cuda: torch.cuda.max_memory_allocated; '
    'cpu: the allocation and free events of torch.profiler in time order); '
    'a first train step includes the gradients and the AdamW state.')


def peak_memory_bytes(step: Callable[[], object], device: str = 'cpu') -> int:
    """Peak bytes of tensors allocated by ``step`` and alive at once."""
    if str(device).startswith('cuda'):
        synchronize(device)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        synchronize(device)
        return torch.cuda.max_memory_allocated() - base
    with profile(activities=[ProfilerActivity.CPU],
                 profile_memory=True) as prof:
        step()
    # allocations (+) and frees (-) in time order; frees of tensors made
    # before the profile started are not recorded
    events = sorted((e.start_ns(), e.nbytes())
                    for e in prof.profiler.kineto_results.events()
                    if e.name() == '[memory]')
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def peak_memory_mib(step: Callable[[], object], device: str = 'cpu') -> float:
    """:func:`peak_memory_bytes` in MiB."""
    return peak_memory_bytes(step, device) / MIB
