"""tools/analysis_tools/{get_flops,benchmark}.py on tiny models and 32x32
inputs."""
import importlib.util
import os.path as osp

import pytest

from featsel.analysis.compare import COSTS, Settings
from featsel.analysis.models import ModelSpec

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'e6_patchgate.py')
BASELINE = osp.join(REPO, 'configs', 'baseline_multitask.py')
TINY = {'model.encoder.base_channels': 8}
SETTINGS = Settings(shape=(32, 32), batch_size=1, warmup=0, repeats=1,
                    threads=1)


def load_tool(name: str):
    """Import a script of tools/analysis_tools as a module."""
    path = osp.join(REPO, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def report():
    return load_tool('benchmark').compare(
        ModelSpec(CONFIG, TINY), ModelSpec(BASELINE, TINY), SETTINGS)


def test_report_rows_and_ratios(report):
    rows = {r['key']: r for r in report['rows']}
    assert list(rows) == list(COSTS)
    for row in rows.values():
        assert row['config'] > 0 and row['baseline'] > 0, row['key']
        assert row['ratio'] == pytest.approx(row['config'] / row['baseline'])
    values = report['values']
    assert rows['params']['baseline'] == values['baseline']['params'] / 1e6
    assert rows['train_memory']['ratio'] == pytest.approx(
        values['config']['train_memory'] /
        values['baseline']['train_memory'])
    assert report['settings']['threads'] == 1
    assert '2 per multiply-add' in report['flops_convention']


def test_train_memory_holds_grads_and_adam_state(report):
    """A first AdamW step keeps gradients and two moments alive at once:
    at least 3 x the parameter bytes (float32) above the weights."""
    for name in ('config', 'baseline'):
        v = report['values'][name]
        assert v['train_memory'] * 2**20 >= 3 * 4 * v['params'], name


def test_table_names_the_convention(report):
    from featsel.analysis.table import format_table
    text = format_table(report['table'])
    for label, _ in COSTS.values():
        assert label in text
    assert 'config/baseline' in text and '2 per multiply-add' in text


def test_get_flops_table():
    from featsel.analysis.table import format_table
    table = load_tool('get_flops').complexity_table(
        ModelSpec(CONFIG, TINY), (32, 32))
    names = [row[0].strip() for row in table.rows]
    for name in ('model', 'encoder', 'selector', 'decoder', 'heads',
                 'decoder.gates', 'heads.seg'):
        assert name in names
    assert not any(n.count('.') > 1 for n in names)
    total = float(table.rows[0][2])
    parts = sum(float(r[2]) for r in table.rows if r[0].startswith('  ')
                and not r[0].startswith('    '))
    assert parts == pytest.approx(total, abs=1e-3)
    assert '2 per multiply-add' in format_table(table)


def test_benchmark_cli_defaults():
    tool = load_tool('benchmark')
    args = tool.parse_args([CONFIG])
    assert args.shape == [128, 128] and args.batch_size == 4
    assert (args.warmup, args.repeats, args.device) == (2, 5, 'cpu')
    assert args.threads is None
    assert tool.default_out(args.config) == osp.join(
        'work_dirs', 'benchmark', 'e6_patchgate.json')


def test_config_options_override_the_measured_config_only():
    tool = load_tool('benchmark')
    args = tool.parse_args([
        CONFIG, '--cfg-options', 'model.encoder.base_channels=8',
        '--config-options', 'model.decoder.fusion_level=0'])
    config, baseline = tool.model_specs(args)
    assert config.cfg_options == {'model.encoder.base_channels': 8,
                                  'model.decoder.fusion_level': 0}
    assert baseline.cfg_options == {'model.encoder.base_channels': 8}
