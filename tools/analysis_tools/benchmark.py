"""Compare the cost of a model with the baseline's on synthetic data:
``python tools/analysis_tools/benchmark.py CONFIG [--baseline BASELINE]``.

Rows: parameters, FLOPs, train-step time, inference time per megapixel and
peak train memory, each with the ratio config / baseline (see
``featsel.analysis``). The table is printed and written to a JSON file.
"""
import argparse
import os.path as osp
import sys
from typing import Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import MMLogger, print_log  # noqa: E402

from featsel.analysis.compare import (COSTS, Settings,  # noqa: E402
                                      add_settings_args, cost_notes,
                                      cost_value, measure_models,
                                      settings_from_args)
from featsel.analysis.flops import FLOPS_CONVENTION  # noqa: E402
from featsel.analysis.models import ModelSpec  # noqa: E402
from featsel.analysis.table import (Table, format_table,  # noqa: E402
                                    number, write_report)
from featsel.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time a model and a baseline on synthetic batches')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('--baseline', default='configs/baseline_multitask.py',
                        help='config file of the baseline')
    add_settings_args(parser)
    parser.add_argument(
        '--out', help='JSON report; defaults to '
        'work_dirs/benchmark/<config name>.json')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of both configs, e.g. '
        'model.encoder.base_channels=8')
    parser.add_argument(
        '--config-options', nargs='+', action=DictAction,
        help='override settings of the measured config only (after '
        '--cfg-options), e.g. model.decoder.fusion_level=0')
    return parser.parse_args(argv)


def default_out(config: str) -> str:
    return osp.join('work_dirs', 'benchmark', f'{ModelSpec(config).name}.json')


def model_specs(args: argparse.Namespace) -> Tuple[ModelSpec, ModelSpec]:
    """The measured config (``--cfg-options`` then ``--config-options``)
    and the baseline (``--cfg-options`` only)."""
    config_options = {**(args.cfg_options or {}),
                      **(args.config_options or {})}
    return (ModelSpec(args.config, config_options or None),
            ModelSpec(args.baseline, args.cfg_options))


def compare(config: ModelSpec, baseline: ModelSpec,
            settings: Settings) -> dict:
    """The report: settings, one row per cost with ``config``,
    ``baseline`` and ``ratio`` = config / baseline, and the table."""
    values = measure_models(dict(config=config, baseline=baseline), settings)
    rows = []
    for key, (label, unit) in COSTS.items():
        a, b = (cost_value(values[n], key) for n in ('config', 'baseline'))
        rows.append(dict(key=key, label=label, unit=unit, config=a,
                         baseline=b, ratio=a / b if b else float('nan')))
    table = Table(
        ['metric', 'unit', 'config', 'baseline', 'config/baseline'],
        [[r['label'], r['unit'], number(r['config'], 4),
          number(r['baseline'], 4), f"{r['ratio']:.3f}"] for r in rows],
        title=f'config: {config.config}  baseline: {baseline.config}',
        notes=cost_notes(settings, values))
    return dict(config=config.config, baseline=baseline.config,
                settings=settings.to_dict(), flops_convention=FLOPS_CONVENTION,
                rows=rows, values=values, table=table)


def main(argv=None) -> dict:
    args = parse_args(argv)
    MMLogger.get_instance('featsel_benchmark', log_level='INFO')
    report = compare(*model_specs(args), settings_from_args(args))
    table = report.pop('table')
    out = args.out or default_out(args.config)
    write_report(report, [table], out)
    print(format_table(table))
    print_log(f'report written to {out}', logger='current')
    return report


if __name__ == '__main__':
    run_cli(main)
