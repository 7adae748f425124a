"""Latency: steps timed in turn, and the time spent in model parts.

On CUDA every measured interval is closed by ``torch.cuda.synchronize`` so
that queued kernels count to the step that launched them.
"""
import time
from contextlib import contextmanager
from statistics import median
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence

import torch
from mmengine.optim import OptimWrapper
from mmengine.utils import ProgressBar
from torch import nn

from .flops import spent_in_modules

Step = Callable[[], object]


def synchronize(device: str) -> None:
    """Wait for queued CUDA work (nothing to wait for on CPU)."""
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def check_device(device: str) -> str:
    """``device`` if usable; a clear error for CUDA without a GPU."""
    if str(device).startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'--device {device}: no CUDA device is available')
    return device


@contextmanager
def num_threads(threads: Optional[int]) -> Iterator[None]:
    """Run with ``threads`` intra-op CPU threads (None: leave as is)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_step_fn(model: nn.Module, batch: dict, lr: float = 1e-4) -> Step:
    """One ``model.train_step`` (preprocess, forward, backward, AdamW)."""
    optim_wrapper = OptimWrapper(
        optimizer=torch.optim.AdamW(model.parameters(), lr=lr))

    def step() -> None:
        model.train()
        model.train_step(batch, optim_wrapper)

    return step


def predict_step_fn(model: nn.Module, batch: dict) -> Step:
    """One ``model.test_step`` (preprocess, ``predict``), eval, no grad."""

    def step() -> None:
        model.eval()
        with torch.no_grad():
            model.test_step(batch)

    return step


def time_alternately(steps: Mapping[str, Step],
                     warmup: int,
                     repeats: int,
                     device: str = 'cpu',
                     progress: Optional[ProgressBar] = None
                     ) -> Dict[str, List[float]]:
    """Seconds per call of each step, calling them in turn (A B A B ...).

    Interleaving spreads slow phases of a noisy machine over all steps.

    Args:
        steps (Mapping[str, Callable]): Name -> step without arguments.
        warmup (int): Untimed rounds first.
        repeats (int): Timed rounds.
        device (str): Synchronised around each call when CUDA.
        progress (ProgressBar, optional): Updated after every call.

    Returns:
        dict[str, list[float]]: Name -> ``repeats`` durations.
    """
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for round_ in range(warmup + repeats):
        for name, step in steps.items():
            synchronize(device)
            start = time.perf_counter()
            step()
            synchronize(device)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
            if progress is not None:
                progress.update()
    return times


def time_modules(model: nn.Module, step: Step, names: Sequence[str],
                 warmup: int, repeats: int,
                 device: str = 'cpu') -> Dict[str, float]:
    """Median seconds spent inside each module of ``names`` per ``step``
    (children included), and in the whole step under ``''``.

    Forward hooks read the clock (after a CUDA synchronisation) on entry
    and exit of each module; the synchronisations add a little to the
    whole step, so compare parts within this measurement.
    """

    def clock() -> float:
        synchronize(device)
        return time.perf_counter()

    for _ in range(warmup):
        step()
    runs: Dict[str, List[float]] = {name: [] for name in ['', *names]}
    for _ in range(repeats):
        spent: Dict[str, float] = {}
        with spent_in_modules(model, names, clock, spent):
            start = clock()
            step()
            spent[''] = clock() - start
        for name in runs:
            runs[name].append(spent.get(name, 0.0))
    return {name: median(values) for name, values in runs.items()}
