"""Parameters, FLOPs and latency of whole models and of their parts at
inference, measured together on the same synthetic batch.

:func:`measure_inference` is what a tool reports when a model is compared
with a baseline at deployment (no training step): every model's
``test_step`` is counted (:mod:`.flops`) and timed, whole steps in turn
(A B A B ..., :func:`.timing.time_alternately`) and per part by forward
hooks (:func:`.timing.time_modules`); the parts are the model's
:func:`.parts.breakdown` (its top-level children unless its class registers
another).
"""
from statistics import median
from typing import Dict, Mapping, Sequence

from torch import nn

from .flops import inference_flops
from .inputs import synthetic_batch
from .models import count_params, params_by_module
from .parts import breakdown
from .timing import predict_step_fn, time_alternately, time_modules

#: what :func:`measure_inference` writes per model
INFERENCE_NOTE = ('latency: median of whole test steps (preprocessing and '
                  'predict, no grad), the models timed in turn on the same '
                  'batch; per part: median time inside each part, read by '
                  'forward hooks (synchronised on CUDA), so compare parts '
                  'within one model')


def measure_inference(models: Mapping[str, nn.Module],
                      shape: Sequence[int],
                      warmup: int,
                      repeats: int,
                      device: str = 'cpu',
                      batch_size: int = 1) -> Dict[str, dict]:
    """Measure every model's ``test_step`` on a synthetic batch.

    Args:
        models (Mapping[str, nn.Module]): Name -> model (on ``device``);
            put in eval mode.
        shape (Sequence[int]): Image size ``(H, W)``.
        warmup (int): Untimed steps before timing (whole steps and parts).
        repeats (int): Timed steps (medians are reported).
        device (str): ``'cpu'`` or ``'cuda'``.
        batch_size (int): Images per step (FLOPs are of this batch too).

    Returns:
        dict: Name -> ``params`` (count), ``params_by_part``, ``flops``
        (of one step), ``flops_by_part``, ``unknown_ops`` (operators
        missing from the FLOPs), ``latency_ms`` (median whole step),
        ``latency_ms_all`` (every timed step) and ``part_latency_ms``;
        the ``*_by_part`` dicts follow the model's breakdown and end with
        ``total``.
    """
    report: Dict[str, dict] = {}
    steps = {}
    for name, model in models.items():
        model.eval()
        batch = synthetic_batch(model, batch_size, tuple(shape))
        parts = breakdown(model)
        flops = inference_flops(model, batch, parts.modules)
        step = predict_step_fn(model, batch)
        seconds = parts.combine(time_modules(model, step, parts.modules,
                                             warmup, repeats, device))
        report[name] = dict(
            params=count_params(model),
            params_by_part=parts.combine(params_by_module(model)),
            flops=flops.total,
            flops_by_part=parts.combine(flops.by_module),
            unknown_ops=flops.unknown,
            part_latency_ms={p: 1e3 * s for p, s in seconds.items()})
        steps[name] = step
    times = time_alternately(steps, warmup, repeats, device)
    for name, values in times.items():
        report[name]['latency_ms'] = 1e3 * median(values)
        report[name]['latency_ms_all'] = [1e3 * t for t in values]
    return report
