"""Cost of the selectors, part by part, on synthetic tensors:
``python tools/analysis_tools/benchmark_selectors.py``.

Two comparisons, each of forward + backward, timed and with peak memory:

1. **Expert mixing** ``sum_k alpha_k * e_k(x)`` at an ``f_1``-sized input:
   the fused path of ``mix_experts`` against the reference stack of
   ``mix_experts_naive``, with the four weak-prior experts of E3 (3x3, 3x3
   dilation 2, 5x5, identity); with one gate, and with one gate per task
   mixing the same experts (``mix_experts_shared`` against one stack shared
   by the gates). Outputs must agree to 1e-5 first.
2. **Selectors against the decoders they feed**: the selector of each
   experiment config (E1 TaskDW, E3 depthwise experts, with their
   regularisers) and the per-task UNet decoders of the baseline config, all
   fed the features the baseline's encoder gives for one batch. A selector
   should cost little next to the decoders.

The table is printed and written, with the raw times, to a JSON file.
"""
import argparse
import os.path as osp
import sys
from statistics import median
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.logging import MMLogger, print_log  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from featsel.analysis.compare import (add_settings_args,  # noqa: E402
                                      settings_from_args)
from featsel.analysis.memory import MEMORY_NOTE, peak_memory_mib  # noqa: E402
from featsel.analysis.models import (ModelSpec, build_model,  # noqa: E402
                                     count_params)
from featsel.analysis.table import Table, render, write_report  # noqa: E402
from featsel.analysis.timing import (num_threads,  # noqa: E402
                                     time_alternately)
from featsel.models import build_expert  # noqa: E402
from featsel.models.layers import (mix_experts_shared,  # noqa: E402
                                   mix_experts_shared_naive)
from featsel.utils.cli import run_cli  # noqa: E402

DEFAULT_OUT = osp.join('work_dirs', 'benchmark', 'selectors.json')
#: The weak-prior experts of E3 (configs/e3_lre_prior.py).
WEAK_PRIOR = [
    dict(type='DWConvExpert', kernel_size=3),
    dict(type='DWConvExpert', kernel_size=3, dilation=2),
    dict(type='DWConvExpert', kernel_size=5),
    dict(type='IdentityExpert'),
]
#: Gate layouts of the mixing benchmark: name -> alpha shape.
ALPHA_LAYOUTS = {
    'pixel': lambda b, k, c, h, w: (b, k, h, w),
    'image': lambda b, k, c, h, w: (b, k, 1, 1),
    'channel': lambda b, k, c, h, w: (b, k, c, h, w),
}
MIX_PATHS = dict(fused=mix_experts_shared, naive=mix_experts_shared_naive)
#: The outputs of the two mixing paths must agree to this (absolute).
OUTPUT_TOL = 1e-5

TIMING_NOTE = ('time: median of the timed forward + backward steps after '
               'warm-up; the cases of one comparison alternate step by step '
               '(A B A B ...) so a slow phase of the machine hits all.')

Step = Callable[[], None]


# ---------------------------------------------------------------------- #
# Steps: one forward + backward of a case
# ---------------------------------------------------------------------- #
def _randn(shape: Sequence[int], seed: int, device: str) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(device)


def backward_step(run: Callable[[], Tuple[List[Tensor], List[Tensor]]],
                  module: nn.Module, leaves: Sequence[Tensor]) -> Step:
    """A step: clear the gradients, ``outputs, grads = run()``, backward."""

    def step() -> None:
        module.zero_grad(set_to_none=True)
        for leaf in leaves:
            leaf.grad = None
        outs, grads = run()
        torch.autograd.backward(outs, grads)

    return step


class MixingCase:
    """The inputs of one expert-mixing case, shared by the two paths.

    Args:
        batch_size (int), channels (int), size (int): ``x`` is
            (B, C, size, size).
        alpha (str): Gate layout, a key of ``ALPHA_LAYOUTS``.
        gates (int): Gates mixing the same experts (one per task).
        device (str): ``'cpu'`` or ``'cuda'``.
    """

    def __init__(self, batch_size: int, channels: int, size: int,
                 alpha: str, gates: int, device: str) -> None:
        b, c, h, w = batch_size, channels, size, size
        torch.manual_seed(0)
        self.experts = nn.ModuleList(
            build_expert(cfg, channels=c) for cfg in WEAK_PRIOR).to(device)
        k = len(self.experts)
        self.x = _randn((b, c, h, w), 1, device).requires_grad_()
        shape = ALPHA_LAYOUTS[alpha](b, k, c, h, w)
        self.alphas = [
            _randn(shape, 2 + n, device).softmax(1).requires_grad_()
            for n in range(gates)
        ]
        self.grad_outs = [_randn((b, c, h, w), 100 + n, device)
                          for n in range(gates)]
        self.name = f'{b}x{c}x{h}x{w}'
        self.gates = gates

    def step(self, path: str) -> Step:
        mix = MIX_PATHS[path]

        def run():
            return mix(self.x, self.alphas, self.experts), self.grad_outs

        return backward_step(run, self.experts, [self.x, *self.alphas])

    def agreement(self) -> dict:
        """``output_abs``: max |fused - naive| of the outputs; ``grad_rel``:
        max over x, alpha, every weight and bias of max |fused - naive| /
        max |naive| of its gradient."""
        inputs = [self.x, *self.alphas, *self.experts.parameters()]
        results = {}
        for path, mix in MIX_PATHS.items():
            outs = mix(self.x, self.alphas, self.experts)
            grads = torch.autograd.grad(outs, inputs, self.grad_outs)
            results[path] = ([o.detach() for o in outs], grads)
        (outs_f, grads_f), (outs_n, grads_n) = results.values()
        rel = max(float((f - n).abs().max() / n.abs().max().clamp_min(1e-30))
                  for f, n in zip(grads_f, grads_n))
        out_abs = max(float((f - n).abs().max())
                      for f, n in zip(outs_f, outs_n))
        return dict(output_abs=out_abs, grad_rel=rel)


def encoder_features(baseline: nn.Module, batch_size: int,
                     shape: Sequence[int], device: str) -> List[Tensor]:
    """``f_1..f_S`` of the baseline encoder for one random batch, as leaves
    that collect gradients (the encoder's share of backward is left out)."""
    image = _randn((batch_size, 3, *shape), 1, device)
    with torch.no_grad():
        feats = baseline.encoder(image)
    return [f.requires_grad_() for f in feats]


def _unit_grads(outs: Sequence[Tensor]) -> List[Tensor]:
    """The gradients of ``sum_o mean(o)``."""
    return [torch.full_like(o, 1 / o.numel()) for o in outs]


def decoder_step(baseline: nn.Module, feats: Sequence[Tensor]) -> Step:
    """Forward + backward of the per-task decoders, every task fed a copy
    of the features (as a selector's outputs)."""
    decoder = baseline.decoder.train()
    task_feats = {t: [f.detach().clone().requires_grad_() for f in feats]
                  for t in baseline.tasks}

    def run():
        outs = list(decoder(task_feats).values())
        return outs, _unit_grads(outs)

    leaves = [f for fs in task_feats.values() for f in fs]
    return backward_step(run, decoder, leaves)


def selector_step(selector: nn.Module, tasks: Sequence[str],
                  feats: Sequence[Tensor]) -> Step:
    """Forward + backward of a selector and of its regularisers."""
    selector.train()

    def run():
        per_task = selector(feats)
        outs = [f for t in tasks for f in per_task[t]]
        aux = list(selector.aux_losses().values())
        return outs + aux, _unit_grads(outs) + [torch.ones_like(a)
                                                for a in aux]

    return backward_step(run, selector, feats)


# ---------------------------------------------------------------------- #
# Time and memory
# ---------------------------------------------------------------------- #
def time_and_memory(steps: Dict[str, Step], args) -> Dict[str, dict]:
    """Median ms (steps alternating) and peak MiB of every step."""
    times = time_alternately(steps, args.warmup, args.repeats, args.device)
    return {name: dict(ms=1e3 * median(times[name]),
                       mib=peak_memory_mib(step, args.device),
                       times=times[name])
            for name, step in steps.items()}


# ---------------------------------------------------------------------- #
# The two comparisons
# ---------------------------------------------------------------------- #
def bench_mixing(args) -> List[dict]:
    rows = []
    for gates in args.gates:
        for size in args.sizes:
            rows.append(_bench_mixing_case(args, size, gates))
    return rows


def _bench_mixing_case(args, size: int, gates: int) -> dict:
    case = MixingCase(args.batch_size, args.channels, size, args.alpha,
                      gates, args.device)
    print_log(f'expert mixing {case.name}, {gates} gate(s)', logger='current')
    agree = case.agreement()
    if not agree['output_abs'] <= OUTPUT_TOL:
        raise RuntimeError(
            f'fused and naive mixing disagree at {case.name}, {gates} '
            f'gate(s): max |diff| of the outputs {agree["output_abs"]:.3g} '
            f'> {OUTPUT_TOL}')
    cost = time_and_memory({p: case.step(p) for p in MIX_PATHS}, args)
    return dict(input=case.name, gates=gates, **agree, **cost)


def bench_selectors(args) -> List[dict]:
    print_log('selectors and decoders', logger='current')
    baseline = build_model(ModelSpec(args.baseline), args.device)
    tasks = list(baseline.tasks)
    feats = encoder_features(baseline, args.batch_size, args.shape,
                             args.device)
    modules = {'decoders': baseline.decoder}
    steps = {'decoders': decoder_step(baseline, feats)}
    for config in args.selectors:
        model = build_model(ModelSpec(config), args.device)
        if list(model.tasks) != tasks:
            raise ValueError(f'{config} has tasks {list(model.tasks)}, '
                             f'{args.baseline} has {tasks}')
        name = osp.splitext(osp.basename(config))[0]
        modules[name] = model.selector
        steps[name] = selector_step(model.selector, tasks, feats)
    cost = time_and_memory(steps, args)
    return [dict(name=name, type=type(module).__name__,
                 params=count_params(module), **cost[name])
            for name, module in modules.items()]


# ---------------------------------------------------------------------- #
# Report
# ---------------------------------------------------------------------- #
def _ratio(a: float, b: float) -> str:
    return f'{a / b:.3f}' if b > 0 else 'n/a'


def report_tables(report: dict) -> List[Table]:
    """The two comparisons as tables, with the settings and methods."""
    s = report['settings']
    mixing = [[
        r['input'], r['gates'], f"{r['fused']['ms']:.1f}",
        f"{r['naive']['ms']:.1f}",
        _ratio(r['fused']['ms'], r['naive']['ms']),
        f"{r['fused']['mib']:.1f}", f"{r['naive']['mib']:.1f}",
        _ratio(r['fused']['mib'], r['naive']['mib']),
        f"{r['output_abs']:.1e}", f"{r['grad_rel']:.1e}"
    ] for r in report['mixing']]
    dec = report['selectors'][0]
    selectors = [[
        f"{r['name']} ({r['type']})", f"{r['params']:,}", f"{r['ms']:.1f}",
        f"{r['mib']:.1f}", _ratio(r['ms'], dec['ms']),
        _ratio(r['mib'], dec['mib'])
    ] for r in report['selectors']]
    h, w = s['shape']
    return [
        Table(['B x C x H x W', 'gates', 'fused ms', 'naive ms', 'f/n',
               'fused MiB', 'naive MiB', 'f/n', 'max|dy|', 'grad rel'],
              mixing,
              title='Expert mixing sum_k alpha_k * e_k(x), forward + '
              'backward; experts DW 3x3, DW 3x3 dilation 2, DW 5x5, '
              f"identity; each gate alpha {report['alpha_shape']}",
              notes=[
                  'fused: mix_experts (1 gate) / mix_experts_shared '
                  '(several gates over the same experts, one pass); naive: '
                  'one stack of the expert outputs, shared by the gates; '
                  'f/n = fused / naive.',
                  f'max|dy| = max |fused - naive| of the outputs (checked '
                  f'<= {OUTPUT_TOL:g}); grad rel = max over x, the alphas '
                  'and every weight and bias of max |fused - naive| / max '
                  '|naive|.'
              ]),
        Table(['module', 'params', 'ms', 'MiB', 'ms / decoders',
               'MiB / decoders'], selectors,
              title='Selectors vs the per-task decoders they feed, forward '
              f"+ backward on the {s['baseline']} encoder's features of a "
              f"{s['batch_size']}x3x{h}x{w} batch (selector regularisers "
              'included)',
              notes=[f"{s['device']}, {s['threads']} threads, torch "
                     f"{s['torch']}; {s['warmup']} warm-up and "
                     f"{s['repeats']} timed steps per case.",
                     TIMING_NOTE, MEMORY_NOTE]),
    ]


# ---------------------------------------------------------------------- #
# Command line
# ---------------------------------------------------------------------- #
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time the expert mixing paths, and the selectors against '
        'the decoders they feed, on synthetic tensors')
    parser.add_argument('--sizes', type=int, nargs='+', default=[128, 256],
                        help='H = W of the expert mixing inputs')
    parser.add_argument('--gates', type=int, nargs='+', default=[1, 3],
                        help='gates mixing the same experts (one per task)')
    parser.add_argument('--channels', type=int, default=16,
                        help='channels C of the expert mixing inputs (f_1 '
                        'of the baseline encoder has 16)')
    parser.add_argument('--alpha', choices=sorted(ALPHA_LAYOUTS),
                        default='pixel',
                        help='gate layout of the expert mixing: per pixel '
                        '(B, K, H, W), per image (B, K, 1, 1) or per pixel '
                        'and channel (B, K, C, H, W)')
    parser.add_argument('--selectors', nargs='+',
                        default=['configs/e1_taskdw.py',
                                 'configs/e3_lre_prior.py'],
                        help='configs whose selectors are measured')
    parser.add_argument('--baseline', default='configs/baseline_multitask.py',
                        help='config whose encoder gives the features and '
                        'whose decoders the selectors are compared with')
    add_settings_args(parser, repeats=7,
                      shape_help='image size of the selector comparison')
    parser.add_argument('--out', default=DEFAULT_OUT, help='JSON report')
    args = parser.parse_args(argv)
    settings_from_args(args)  # checks --device
    return args


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    for path in [args.baseline, *args.selectors]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'config file "{path}" does not exist')
    MMLogger.get_instance('featsel_benchmark', log_level='INFO')
    with num_threads(args.threads):
        threads = torch.get_num_threads()
        mixing = bench_mixing(args)
        selectors = bench_selectors(args)
    report = dict(
        settings=dict(vars(args), threads=threads, torch=torch.__version__),
        alpha_shape=str(ALPHA_LAYOUTS[args.alpha]('B', 'K', 'C', 'H',
                                                   'W')).replace("'", ''),
        mixing=mixing,
        selectors=selectors)
    tables = report_tables(report)
    write_report(report, tables, args.out)
    print(render(tables))
    print_log(f'report written to {args.out}', logger='current')


if __name__ == '__main__':
    run_cli(main)
