"""Efficiency measurements shared by ``tools/analysis_tools``.

A model is built from a config file and fed a synthetic batch (random images
and a random target ``gt_<task>`` for every task of the model), so no data on
disk is needed. Measured here:

* parameters and FLOPs of the ``tensor`` mode on one ``(1, 3, H, W)`` image,
  in multiply-adds as fvcore / mmengine count them;
* the time of a train step (data preprocessing, forward, backward, AdamW
  step) and of a ``predict`` step, for several models alternately;
* the peak memory of a train step, each model in a fresh process.
"""
import argparse
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import (Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmengine.utils import ProgressBar
from mmseg.structures import SegDataSample

MIB = 2**20

FLOPS_NOTE = ('FLOPs are multiply-adds (one MAC counted as one FLOP), as '
              'fvcore / mmengine count them; element-wise ops (products, '
              'sums, softmax, activations) are not counted.')

MEMORY_NOTES = {
    'cuda': ('peak train memory: torch.cuda.max_memory_allocated over one '
             'train step after warm-up, each model alone in a fresh process '
             '(parameters, gradients, AdamW state and activations).'),
    'cpu': ('peak train memory: growth of the peak resident set size '
            '(resource.getrusage ru_maxrss) from just before the first '
            'train step to after the last, each model alone in a fresh '
            'process (gradients, AdamW state and activations; the '
            'parameters are resident before). Allocator caching makes it '
            'coarse: compare ratios, not single MiB.'),
}

Shape = Tuple[int, int]


@dataclass(frozen=True)
class ModelSpec:
    """What a fresh process needs to rebuild a model: a config file and the
    ``--cfg-options`` merged into it."""

    config: str
    cfg_options: Optional[Mapping] = None


@dataclass(frozen=True)
class BenchmarkSettings:
    """How to measure.

    Args:
        shape (tuple[int, int]): Image size ``(H, W)``.
        batch_size (int): Images per train / predict step.
        warmup (int): Untimed steps per model before timing.
        repeats (int): Timed steps per model (medians are reported).
        device (str): ``'cpu'`` or ``'cuda'``.
        threads (int, optional): Intra-op CPU threads; None keeps torch's
            default.
        memory_steps (int): Train steps of the memory measurement.
    """

    shape: Shape = (128, 128)
    batch_size: int = 4
    warmup: int = 2
    repeats: int = 5
    device: str = 'cpu'
    threads: Optional[int] = None
    memory_steps: int = 2


@dataclass
class FlopCount:
    """FLOPs of one forward pass.

    Attributes:
        total (int): Multiply-adds of the whole model.
        by_module (dict[str, int]): Multiply-adds per module name
            (``''`` is the model).
        uncounted (dict[str, int]): Operators that were traced but have no
            FLOP rule -> how often they occurred.
    """

    total: int
    by_module: Dict[str, int]
    uncounted: Dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------- #
# Models and synthetic data
# ---------------------------------------------------------------------- #
def load_config(spec: ModelSpec) -> Config:
    """Read ``spec.config`` and merge ``spec.cfg_options`` into it."""
    cfg = Config.fromfile(spec.config)
    if spec.cfg_options:
        cfg.merge_from_dict(dict(spec.cfg_options))
    return cfg


def build_model(spec: ModelSpec,
                device: str = 'cpu',
                seed: int = 0) -> BaseModel:
    """Build ``cfg.model`` of a config on ``device``.

    The weights keep their construction-time values (``init_weights`` is
    not called): cost does not depend on them.

    Args:
        spec (ModelSpec): Config file and overrides.
        device (str): ``'cpu'`` or ``'cuda'``.
        seed (int): Seed of the random weights.
    """
    from featsel.registry import MODELS
    from featsel.utils import register_all_modules

    register_all_modules()
    cfg = load_config(spec)
    torch.manual_seed(seed)
    return MODELS.build(cfg.model).to(device)


def synthetic_targets(tasks: Mapping, shape: Shape,
                      generator: torch.Generator) -> Dict[str, PixelData]:
    """One random ``gt_<task>`` of shape (1, H, W) per task.

    Masks get random labels below ``num_classes``, boundaries random 0/1,
    SDFs uniform values in [-1, 1].

    Args:
        tasks (Mapping): Task name -> ``TaskSpec`` (``model.tasks``).
        shape (tuple[int, int]): ``(H, W)``.
        generator (torch.Generator): Source of randomness.
    """
    size = (1, *shape)
    targets = {}
    for name, task in tasks.items():
        if task.kind == 'sdf':
            data = torch.rand(size, generator=generator) * 2 - 1
        else:
            high = task.num_classes if task.kind == 'mask' else 2
            data = torch.randint(high, size, generator=generator)
        targets[f'gt_{name}'] = PixelData(data=data)
    return targets


def synthetic_batch(model: BaseModel,
                    batch_size: int,
                    shape: Shape,
                    seed: int = 0) -> dict:
    """A batch as a dataloader gives it: ``dict(inputs, data_samples)``.

    Args:
        model (BaseModel): A model with ``tasks`` (``MultiTaskSegmentor``).
        batch_size (int): Images in the batch.
        shape (tuple[int, int]): Image size ``(H, W)``.
        seed (int): Seed of the random images and targets.

    Returns:
        dict: ``inputs``: list of uint8 tensors (3, H, W); ``data_samples``:
        list of ``SegDataSample`` with every task's ``gt_<task>``.
    """
    g = torch.Generator().manual_seed(seed)
    shape = tuple(shape)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(
            torch.randint(256, (3, *shape), generator=g, dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(
            img_shape=shape, ori_shape=shape, pad_shape=shape))
        sample.set_data(synthetic_targets(model.tasks, shape, g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------------- #
# Complexity
# ---------------------------------------------------------------------- #
def count_params(model: torch.nn.Module) -> int:
    """Number of parameters (shared ones once)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: BaseModel, shape: Shape) -> FlopCount:
    """Multiply-adds of the ``tensor`` mode on one (1, 3, H, W) image."""
    device = next(model.parameters()).device
    inputs = torch.rand(1, 3, *shape, device=device)
    was_training = model.training
    model.eval()
    try:
        analyzer = FlopAnalyzer(model, inputs=(inputs, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        by_module = dict(analyzer.by_module())
        uncounted = dict(analyzer.unsupported_ops())
    finally:
        model.train(was_training)
    return FlopCount(by_module[''], by_module, uncounted)


def params_by_module(model: torch.nn.Module) -> Dict[str, int]:
    """Parameters per module name, children included (``''``: all)."""
    counts: Dict[str, int] = {}
    for name, param in model.named_parameters():
        parts = name.split('.')[:-1]
        for depth in range(len(parts) + 1):
            key = '.'.join(parts[:depth])
            counts[key] = counts.get(key, 0) + param.numel()
    return counts


def complexity_rows(model: torch.nn.Module, flops: FlopCount,
                    max_depth: int = 2) -> List[List[str]]:
    """Rows ``[module, params, GMac, % of GMac]`` down to ``max_depth``.

    Every top-level module is listed; deeper ones only when they hold
    parameters or FLOPs.
    """
    params = params_by_module(model)
    total = max(flops.total, 1)
    rows = [['model', f"{params.get('', 0):,}", _giga(flops.total), '100.0']]
    for name, _ in model.named_modules():
        depth = name.count('.') + 1 if name else 0
        p, f = params.get(name, 0), flops.by_module.get(name, 0)
        if not 1 <= depth <= max_depth or (depth > 1 and not p + f):
            continue
        rows.append(['  ' * depth + name, f'{p:,}', _giga(f),
                     f'{100 * f / total:.1f}'])
    return rows


def _giga(n: float) -> str:
    return f'{n / 1e9:.3f}'


def format_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Plain-text table: the first column left-aligned, the others right."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: List[str]) -> str:
        return '  '.join(
            row[i].ljust(w) if i == 0 else row[i].rjust(w)
            for i, w in enumerate(widths))

    rule = '-' * len(line(cells[0]))
    return '\n'.join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


# ---------------------------------------------------------------------- #
# Timing
# ---------------------------------------------------------------------- #
def make_optim_wrapper(model: torch.nn.Module,
                       lr: float = 1e-4) -> OptimWrapper:
    """An AdamW ``OptimWrapper`` over all parameters."""
    return OptimWrapper(
        optimizer=torch.optim.AdamW(model.parameters(), lr=lr))


def train_step_fn(model: BaseModel, batch: dict) -> Callable[[], None]:
    """One ``model.train_step`` (preprocess, forward, backward, AdamW)."""
    optim_wrapper = make_optim_wrapper(model)

    def step() -> None:
        model.train()
        model.train_step(batch, optim_wrapper)

    return step


def predict_step_fn(model: BaseModel, batch: dict) -> Callable[[], None]:
    """One ``model.test_step`` (preprocess, ``predict`` mode), no grad."""

    def step() -> None:
        model.eval()
        with torch.no_grad():
            model.test_step(batch)

    return step


def _synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_alternately(steps: Mapping[str, Callable[[], None]],
                     warmup: int,
                     repeats: int,
                     device: str = 'cpu',
                     progress: Optional[ProgressBar] = None
                     ) -> Dict[str, List[float]]:
    """Seconds per call of each step, calling them in turn (A B A B ...).

    Interleaving spreads slow phases of a noisy machine over all models.

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
            _synchronize(device)
            start = time.perf_counter()
            step()
            _synchronize(device)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
            if progress is not None:
                progress.update()
    return times


# ---------------------------------------------------------------------- #
# Memory
# ---------------------------------------------------------------------- #
def _max_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == 'darwin' else peak * 1024


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


def train_memory_mib(spec: ModelSpec, settings: BenchmarkSettings) -> float:
    """Peak memory of train steps in this process (see ``MEMORY_NOTES``).

    Meant to run in a fresh process: on CPU the peak RSS of a process never
    goes down, so anything this process did before can hide the growth.

    Args:
        spec (ModelSpec): The model.
        settings (BenchmarkSettings): Batch, device, threads and
            ``memory_steps`` (the first step creates the AdamW state).

    Returns:
        float: MiB.
    """
    with num_threads(settings.threads):
        model = build_model(spec, settings.device)
        step = train_step_fn(
            model,
            synthetic_batch(model, settings.batch_size, settings.shape))
        if settings.device.startswith('cuda'):
            for _ in range(settings.memory_steps - 1):
                step()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            step()
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / MIB
        before = _max_rss_bytes()
        for _ in range(settings.memory_steps):
            step()
        return (_max_rss_bytes() - before) / MIB


def train_memory_isolated(specs: Mapping[str, ModelSpec],
                          settings: BenchmarkSettings) -> Dict[str, float]:
    """:func:`train_memory_mib` of each model in its own fresh process.

    The processes are spawned (not forked: a forked child inherits the
    parent's allocator state and can deadlock in OpenMP) and run side by
    side, since each measures only itself.

    Returns:
        dict[str, float]: Name -> MiB.
    """
    context = multiprocessing.get_context('spawn')
    with ProcessPoolExecutor(len(specs), mp_context=context) as pool:
        futures = {
            name: pool.submit(train_memory_mib, spec, settings)
            for name, spec in specs.items()
        }
        return {name: f.result() for name, f in futures.items()}


# ---------------------------------------------------------------------- #
# Comparison of a model with a baseline
# ---------------------------------------------------------------------- #
#: Report rows: key, label, unit.
ROWS = (
    ('params', 'params', 'count'),
    ('flops', 'FLOPs (1 image)', 'GMac'),
    ('train_step', 'train step (median)', 'ms/batch'),
    ('inference', 'inference (median)', 'ms/MPix'),
    ('train_memory', 'peak train memory', 'MiB'),
)
_SCALE = dict(flops=1e-9)


def compare(config: ModelSpec,
            baseline: ModelSpec,
            settings: BenchmarkSettings = BenchmarkSettings()) -> dict:
    """Measure a model and a baseline on the same synthetic batch.

    Args:
        config (ModelSpec): The model to measure.
        baseline (ModelSpec): The model it is compared with.
        settings (BenchmarkSettings): How to measure.

    Returns:
        dict: ``settings``, ``notes``, ``rows`` (each with ``config``,
        ``baseline`` and ``ratio`` = config / baseline), the raw ``times``
        (seconds) and the ``uncounted`` FLOP operators per model.
    """
    specs = dict(config=config, baseline=baseline)
    print_log(f'measuring train memory in fresh processes '
              f'({settings.device})', logger='current')
    memory = train_memory_isolated(specs, settings)
    with num_threads(settings.threads):
        threads = torch.get_num_threads()
        models = {name: build_model(spec, settings.device)
                  for name, spec in specs.items()}
        values = {name: dict(train_memory=memory[name]) for name in specs}
        uncounted = {}
        for name, model in models.items():
            flops = count_flops(model, settings.shape)
            uncounted[name] = flops.uncounted
            values[name].update(params=count_params(model),
                                flops=flops.total)
        times = time_models(models, settings)
    h, w = settings.shape
    megapixels = settings.batch_size * h * w / 1e6
    for name in specs:
        values[name]['train_step'] = 1e3 * median(times['train'][name])
        values[name]['inference'] = (1e3 * median(times['predict'][name]) /
                                     megapixels)
    return dict(
        config=config.config,
        baseline=baseline.config,
        settings=dict(asdict(settings), threads=threads,
                      torch=torch.__version__),
        notes=dict(flops=FLOPS_NOTE,
                   memory=MEMORY_NOTES[_kind(settings.device)],
                   timing=('median of the timed steps after warm-up; the '
                           'two models alternate step by step on the same '
                           'batch')),
        rows=[_row(key, label, unit, values)
              for key, label, unit in ROWS],
        times=times,
        uncounted=uncounted)


def _kind(device: str) -> str:
    return 'cuda' if device.startswith('cuda') else 'cpu'


def time_models(
        models: Mapping[str, BaseModel],
        settings: BenchmarkSettings) -> Dict[str, Dict[str, List[float]]]:
    """Train then predict durations of every model, alternating models."""
    batches = {
        name: synthetic_batch(model, settings.batch_size, settings.shape)
        for name, model in models.items()
    }
    rounds = settings.warmup + settings.repeats
    progress = ProgressBar(2 * len(models) * rounds)
    times = {}
    for phase, make_step in (('train', train_step_fn),
                             ('predict', predict_step_fn)):
        steps = {name: make_step(model, batches[name])
                 for name, model in models.items()}
        times[phase] = time_alternately(steps, settings.warmup,
                                        settings.repeats, settings.device,
                                        progress)
    sys.stdout.write('\n')
    return times


def _row(key: str, label: str, unit: str,
         values: Mapping[str, Mapping[str, float]]) -> dict:
    scale = _SCALE.get(key, 1.0)
    config, baseline = (values[n][key] * scale
                        for n in ('config', 'baseline'))
    return dict(key=key, label=label, unit=unit, config=config,
                baseline=baseline,
                ratio=config / baseline if baseline else float('nan'))


def _number(value: float) -> str:
    return f'{value:,.0f}' if abs(value) >= 1000 else f'{value:.4g}'


def format_report(report: dict) -> str:
    """The comparison as a table, with settings and methods below."""
    rows = [[r['label'], r['unit'], _number(r['config']),
             _number(r['baseline']), f"{r['ratio']:.3f}"]
            for r in report['rows']]
    table = format_table(['metric', 'unit', 'config', 'baseline',
                          'config/baseline'], rows)
    s = report['settings']
    lines = [
        f"config:   {report['config']}",
        f"baseline: {report['baseline']}",
        table,
        f"input {s['batch_size']}x3x{s['shape'][0]}x{s['shape'][1]} on "
        f"{s['device']} ({s['threads']} threads), {s['warmup']} warm-up and "
        f"{s['repeats']} timed steps per model",
    ]
    lines += [f'- {note}' for note in report['notes'].values()]
    for name, ops in report['uncounted'].items():
        if ops:
            listed = ', '.join(f'{op} x{n}' for op, n in sorted(ops.items()))
            lines.append(f'- not in the {name} FLOPs: {listed}')
    return '\n'.join(lines)


def add_timing_args(parser: argparse.ArgumentParser, repeats: int = 5,
                    shape_help: str = 'input image size') -> None:
    """The measurement arguments every benchmark tool shares."""
    parser.add_argument('--shape', type=int, nargs=2, default=[128, 128],
                        metavar=('H', 'W'), help=shape_help)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed steps per case')
    parser.add_argument('--repeats', type=int, default=repeats,
                        help='timed steps per case (medians are reported)')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument(
        '--threads', type=int,
        help="intra-op CPU threads (default: torch's default, one per core)")
