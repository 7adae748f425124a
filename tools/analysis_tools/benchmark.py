"""Compare the cost of a model with the baseline's on synthetic data:
``python tools/analysis_tools/benchmark.py CONFIG [--baseline BASELINE]``.

Rows: parameters, FLOPs, train-step time, inference time per megapixel and
peak train memory, each with the ratio config / baseline. The table is
printed and written to a JSON file.
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import MMLogger, print_log  # noqa: E402

from featsel.utils.cli import run_cli  # noqa: E402
from featsel.utils import dump_json_atomic  # noqa: E402
from featsel.utils.benchmark import (BenchmarkSettings,  # noqa: E402
                                     ModelSpec, add_timing_args, compare,
                                     format_report)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time a model and a baseline on synthetic batches')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('--baseline', default='configs/baseline_multitask.py',
                        help='config file of the baseline')
    add_timing_args(parser)
    parser.add_argument(
        '--out', help='JSON report; defaults to '
        'work_dirs/benchmark/<config name>.json')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of both configs, e.g. '
        'model.encoder.base_channels=8')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    return args


def default_out(config: str) -> str:
    name = osp.splitext(osp.basename(config))[0]
    return osp.join('work_dirs', 'benchmark', f'{name}.json')


def main() -> None:
    args = parse_args()
    for path in (args.config, args.baseline):
        if not osp.isfile(path):
            raise FileNotFoundError(f'config file "{path}" does not exist')
    MMLogger.get_instance('featsel_benchmark', log_level='INFO')
    settings = BenchmarkSettings(
        shape=tuple(args.shape), batch_size=args.batch_size,
        warmup=args.warmup, repeats=args.repeats, device=args.device,
        threads=args.threads)
    report = compare(ModelSpec(args.config, args.cfg_options),
                     ModelSpec(args.baseline, args.cfg_options), settings)
    out = args.out or default_out(args.config)
    dump_json_atomic(report, out)
    print(format_report(report))
    print_log(f'report written to {out}', logger='current')


if __name__ == '__main__':
    run_cli(main)
