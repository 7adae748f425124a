"""Tests of tools/analysis_tools/{get_flops,benchmark}.py and their core in
``featsel.utils.benchmark`` on tiny models and 32x32 inputs."""
import importlib.util
import os.path as osp

import pytest

from featsel.utils import benchmark as bm

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'e6_patchgate.py')
BASELINE = osp.join(REPO, 'configs', 'baseline_multitask.py')
TINY = {'model.encoder.base_channels': 8}
SHAPE = (32, 32)
# One thread: several OpenMP threads on tiny inputs stall on a busy machine.
SETTINGS = bm.BenchmarkSettings(shape=SHAPE, batch_size=1, warmup=0,
                                repeats=1, threads=1, memory_steps=1)


def load_tool(name: str):
    """Import a script of tools/analysis_tools as a module."""
    path = osp.join(REPO, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def baseline_model():
    return bm.build_model(bm.ModelSpec(BASELINE, TINY))


@pytest.fixture(scope='module')
def report(baseline_model):
    """One comparison; the memory subprocesses are replaced (too slow
    to spawn here) by fixed values."""
    mp = pytest.MonkeyPatch()
    mp.setattr(bm, 'train_memory_isolated',
               lambda specs, settings: dict(config=6.0, baseline=4.0))
    try:
        yield bm.compare(bm.ModelSpec(CONFIG, TINY),
                         bm.ModelSpec(BASELINE, TINY), SETTINGS)
    finally:
        mp.undo()


def test_synthetic_batch_has_every_task(baseline_model):
    batch = bm.synthetic_batch(baseline_model, 2, SHAPE)
    assert len(batch['inputs']) == 2
    assert batch['inputs'][0].shape == (3, *SHAPE)
    for sample in batch['data_samples']:
        for name, task in baseline_model.tasks.items():
            target = sample.get(f'gt_{name}').data
            assert target.shape == (1, *SHAPE)
            if task.kind == 'sdf':
                assert target.min() >= -1 and target.max() <= 1
            else:
                assert set(target.unique().tolist()) <= {0, 1}


def test_count_params_and_flops(baseline_model):
    assert bm.count_params(baseline_model) == sum(
        p.numel() for p in baseline_model.parameters())
    flops = bm.count_flops(baseline_model, SHAPE)
    assert flops.total > 0 and flops.total == flops.by_module['']
    assert flops.by_module['encoder'] + flops.by_module['decoder'] + \
        flops.by_module['heads'] == flops.total
    names = [r[0].strip() for r in bm.complexity_rows(baseline_model, flops)]
    for name in ('model', 'encoder', 'selector', 'decoder', 'heads',
                 'decoder.decoders', 'heads.seg'):
        assert name in names
    assert not any(n.count('.') > 1 for n in names)


def test_get_flops_report():
    text = load_tool('get_flops').complexity_report(
        bm.ModelSpec(CONFIG, TINY), SHAPE)
    assert 'multiply-adds' in text
    for name in ('encoder', 'selector', 'decoder.gates', 'heads.seg'):
        assert name in text


def test_report_rows(report, baseline_model):
    rows = {r['key']: r for r in report['rows']}
    assert list(rows) == [key for key, _, _ in bm.ROWS]
    for row in rows.values():
        assert row['config'] > 0 and row['baseline'] > 0, row['key']
        assert row['ratio'] == pytest.approx(row['config'] / row['baseline'])
    assert rows['params']['baseline'] == sum(
        p.numel() for p in baseline_model.parameters())
    assert rows['train_memory']['ratio'] == pytest.approx(1.5)
    assert report['settings']['threads'] == 1
    text = bm.format_report(report)
    for row in rows.values():
        assert row['label'] in text


def test_time_alternately_interleaves():
    calls = []
    steps = {name: (lambda n=name: calls.append(n)) for name in 'ab'}
    times = bm.time_alternately(steps, warmup=1, repeats=2)
    assert calls == ['a', 'b'] * 3
    assert [len(t) for t in times.values()] == [2, 2]


def test_train_memory_in_process():
    mib = bm.train_memory_mib(bm.ModelSpec(BASELINE, TINY), SETTINGS)
    assert mib >= 0  # peak RSS growth; may be 0 after earlier tests


def test_benchmark_cli_defaults():
    tool = load_tool('benchmark')
    args = tool.parse_args([CONFIG])
    assert args.shape == [128, 128] and args.batch_size == 4
    assert (args.warmup, args.repeats, args.device) == (2, 5, 'cpu')
    assert args.threads is None
    assert tool.default_out(args.config) == osp.join(
        'work_dirs', 'benchmark', 'e6_patchgate.json')
