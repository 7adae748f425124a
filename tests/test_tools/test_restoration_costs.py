"""The restoration cost tool: one quick run reports parameters, adapter
overhead, speed, tile penalty and memory, in JSON and Markdown."""
import json
import os.path as osp

import pytest

from tests.tool_runner import run_tool


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('restoration_costs'))
    run_tool(['tools/analysis_tools/restoration_costs.py', '--quick',
              '--threads', '1', '--out-dir', out], timeout=600)
    with open(osp.join(out, 'restoration_costs.json')) as f:
        report = json.load(f)
    report['markdown'] = open(osp.join(out, 'restoration_costs.md')).read()
    return report


def test_parameters_and_adapter_overhead(report):
    params = report['params']
    assert sum(params['groups'].values()) == params['backbone']
    rows = {(r['adapter'], r['position']): r for r in params['adapters']}
    # FiLM: 2C per site; decoder sites have 64 + 32 + 16 + 16 channels
    assert rows[('FiLM', 'decoder')]['params'] == 2 * (64 + 32 + 16 + 16)
    assert rows[('FiLM', 'all')]['sites'] == 8
    lora = rows[('ConvLoRA rank 4', 'decoder')]
    assert lora['params'] == 10 * 4 * (64 + 32 + 16 + 16)  # (9 + 1) C r
    assert lora['percent'] == pytest.approx(
        100 * lora['params'] / params['backbone'])


def test_speed_counts_tiles_and_flops(report):
    speed = report['speed']
    flops = speed['gflops_per_mp']
    assert flops['encode'] > 0 and flops['decode'] > 0
    tiled, exact = 'tiled 128/32 hann', 'exact-tiled 128/0'
    # 256 px per side: 3 tiles of 128 (tiling costs more decoder FLOPs)
    assert speed['decoded'][tiled]['tiles'] == 9
    assert flops[f'decode {tiled}'] > flops['decode']
    assert speed['decoded'][exact]['context'] == 32
    assert set(speed['ratio']) == {tiled, exact}
    assert all(v > 0 for v in speed['ms_per_mp'].values())
    assert speed['unknown_ops'] == []  # attention on the CPU is counted


def test_penalty_and_memory(report):
    rows = report['penalty']
    assert {(r['blend'], r['context']) for r in rows} == {
        ('hann', 0), ('hann', 32), ('uniform', 0), ('uniform', 32)}
    for r in rows:
        if r['context']:  # exact tiles: the untiled output
            assert r['max_abs_diff'] < 1e-5
    hann, uniform = (next(r for r in rows if r['blend'] == b
                          and r['context'] == 0) for b in ('hann', 'uniform'))
    assert hann['max_abs_diff'] < uniform['max_abs_diff']
    memory = report['memory']
    assert [r['shape'] for r in memory] == ['256x256', '384x512']
    for r in memory:
        assert 0 < r['cache_mib'] < r['tiled_peak_mib']
        assert r['untiled_peak_mib'] > 0 and r['tiled_s'] > 0


def test_markdown_has_every_table(report):
    for title in ('Backbone parameters', 'Adapter overhead per expert',
                  'Speed at 256x256', 'Tile penalty (tile 128)',
                  'Memory (tile 128, overlap 32, Hann)'):
        assert title in report['markdown']
    assert '2 per multiply-add' in report['markdown']


def test_checkpoint_needs_a_config(tmp_path):
    proc = run_tool(['tools/analysis_tools/restoration_costs.py',
                     '--checkpoint', 'x.pth', '--out-dir', str(tmp_path)],
                    check=False)
    assert proc.returncode == 2 and '--checkpoint needs --config' in \
        proc.stderr
