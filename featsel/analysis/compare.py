"""Parameters, FLOPs, time and memory of several models on the same
synthetic batches, and the command-line arguments that set how.

:func:`measure_models` is what ``benchmark.py`` (a model against a
baseline) and ``compare_experiments.py`` (trained runs side by side) both
report.
"""
import argparse
import gc
import sys
from dataclasses import asdict, dataclass
from statistics import median
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from torch import nn

from .flops import FLOPS_CONVENTION, inference_flops
from .inputs import synthetic_batch
from .memory import MEMORY_NOTE, peak_memory_mib
from .models import ModelSpec, build_model, count_params
from .timing import (check_device, num_threads, predict_step_fn,
                     time_alternately, train_step_fn)

Shape = Tuple[int, int]

#: Cost rows: key -> (label, unit).
COSTS = {
    'params': ('params', 'M'),
    'flops': ('FLOPs (1 image)', 'GFLOPs'),
    'train_step': ('train step (median)', 'ms/batch'),
    'inference': ('inference (median)', 'ms/MPix'),
    'train_memory': ('peak train memory', 'MiB'),
}
TIMING_NOTE = ('time: median of the timed steps after warm-up; the models '
               'take turns step by step on the same batch, so a slow phase '
               'of the machine hits all of them.')


@dataclass(frozen=True)
class Settings:
    """How to measure.

    Args:
        shape (tuple[int, int]): Image size ``(H, W)``.
        batch_size (int): Images per train / predict step (FLOPs: one).
        warmup (int): Untimed steps per model before timing.
        repeats (int): Timed steps per model (medians are reported).
        device (str): ``'cpu'`` or ``'cuda'``.
        threads (int, optional): Intra-op CPU threads; None keeps torch's.
    """

    shape: Shape = (128, 128)
    batch_size: int = 4
    warmup: int = 2
    repeats: int = 5
    device: str = 'cpu'
    threads: Optional[int] = None

    def describe(self) -> str:
        """One line: input, device, threads, steps."""
        h, w = self.shape
        return (f'synthetic {self.batch_size}x3x{h}x{w} batches on '
                f'{self.device} ({torch.get_num_threads()} threads, torch '
                f'{torch.__version__}); {self.warmup} warm-up and '
                f'{self.repeats} timed steps per model')

    def to_dict(self) -> dict:
        return dict(asdict(self), threads=torch.get_num_threads(),
                    torch=torch.__version__)


def add_settings_args(parser: argparse.ArgumentParser,
                      repeats: int = 5,
                      shape: Shape = (128, 128),
                      shape_help: str = 'input image size') -> None:
    """The measurement arguments every analysis tool shares."""
    parser.add_argument('--shape', type=int, nargs=2, default=list(shape),
                        metavar=('H', 'W'), help=shape_help)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed steps per case')
    parser.add_argument('--repeats', type=int, default=repeats,
                        help='timed steps per case (medians are reported)')
    add_device_args(parser)


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--threads``."""
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument(
        '--threads', type=int,
        help="intra-op CPU threads (default: torch's default, one per core)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """:class:`Settings` of parsed :func:`add_settings_args` arguments."""
    return Settings(shape=tuple(args.shape), batch_size=args.batch_size,
                    warmup=args.warmup, repeats=args.repeats,
                    device=check_device(args.device), threads=args.threads)


def train_memory_mib(model: nn.Module, batch: dict, device: str) -> float:
    """Peak memory (:data:`MEMORY_NOTE`) of the first train step of a fresh
    AdamW, after one untimed step that initialises kernels and workspaces
    (its optimizer state is freed first)."""
    train_step_fn(model, batch)()
    gc.collect()
    return peak_memory_mib(train_step_fn(model, batch), device)


def measure_models(specs: Mapping[str, ModelSpec],
                   settings: Settings = Settings(),
                   memory: bool = True) -> Dict[str, dict]:
    """Measure every model on the same synthetic batch.

    Args:
        specs (Mapping[str, ModelSpec]): Name -> model.
        settings (Settings): How to measure.
        memory (bool): Also measure the peak train memory.

    Returns:
        dict: Name -> ``params`` (count), ``flops`` (of one test step on
        one image), ``train_step`` (ms per batch), ``inference`` (ms per
        megapixel), ``train_memory`` (MiB, when measured),
        ``unknown_ops`` (operators missing from the FLOPs) and the raw
        ``times`` (seconds).
    """
    with num_threads(settings.threads):
        models = {name: build_model(spec, settings.device)
                  for name, spec in specs.items()}
        batches = {name: synthetic_batch(m, settings.batch_size,
                                         settings.shape)
                   for name, m in models.items()}
        values: Dict[str, dict] = {}
        for name, model in models.items():
            flops = inference_flops(
                model, synthetic_batch(model, 1, settings.shape), [])
            values[name] = dict(params=count_params(model), flops=flops.total,
                                unknown_ops=flops.unknown)
            if memory:
                print_log(f'peak train memory of {name}', logger='current')
                values[name]['train_memory'] = train_memory_mib(
                    model, batches[name], settings.device)
        rounds = settings.warmup + settings.repeats
        progress = ProgressBar(2 * len(models) * rounds)
        times = {}
        for phase, make_step in (('train', train_step_fn),
                                 ('predict', predict_step_fn)):
            steps = {name: make_step(m, batches[name])
                     for name, m in models.items()}
            times[phase] = time_alternately(steps, settings.warmup,
                                            settings.repeats,
                                            settings.device, progress)
        sys.stdout.write('\n')
    h, w = settings.shape
    megapixels = settings.batch_size * h * w / 1e6
    for name, v in values.items():
        v['train_step'] = 1e3 * median(times['train'][name])
        v['inference'] = 1e3 * median(times['predict'][name]) / megapixels
        v['times'] = {phase: times[phase][name] for phase in times}
    return values


def cost_value(values: Mapping[str, float], key: str) -> Optional[float]:
    """A cost in the unit of :data:`COSTS` (params in M, FLOPs in G)."""
    if key not in values:
        return None
    scale = dict(params=1e-6, flops=1e-9).get(key, 1.0)
    return values[key] * scale


def cost_notes(settings: Settings, values: Mapping[str, dict],
               memory: bool = True) -> List[str]:
    """The notes every cost table carries: settings, FLOP convention,
    timing and memory methods, and operators missing from the FLOPs."""
    notes = [settings.describe(), FLOPS_CONVENTION, TIMING_NOTE]
    if memory:
        notes.append(MEMORY_NOTE)
    for name, v in values.items():
        if v.get('unknown_ops'):
            listed = ', '.join(f'{op} x{n}' for op, n in sorted(
                v['unknown_ops'].items()))
            notes.append(f'not in the {name} FLOPs (no formula): {listed}')
    return notes
