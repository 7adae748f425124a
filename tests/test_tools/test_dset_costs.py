"""The DSET cost tool: one run measures every config on the same inputs."""
import json
import os.path as osp

import pytest

from tests.tool_runner import run_tool

PARTS = ('backbone', 'encoder transformer', 'fusion', 'decoder',
         'selection + head')


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('costs'))
    run_tool(['tools/analysis_tools/dset_costs.py',
              'configs/dset/rtdetr_r18.py', 'configs/dset/dset_r18.py',
              '--shapes', '128x128', '96x160', '--moe-tokens', '64',
              '--prune-batch-sizes', '1', '--warmup', '0', '--repeats', '1',
              '--threads', '1', '--out-dir', out], timeout=600)
    with open(osp.join(out, 'costs.json')) as f:
        report = json.load(f)
    report['markdown'] = open(osp.join(out, 'costs.md')).read()
    return report


def test_parts_add_up_and_mechanisms_show(report):
    base = report['models']['rtdetr_r18']['shapes']['128x128']['gflops']
    dset = report['models']['dset_r18']['shapes']['128x128']['gflops']
    for gflops in (base, dset):
        assert sum(gflops[p] for p in PARTS) == pytest.approx(
            gflops['total'], rel=1e-6)
        assert gflops['backbone'] > 0 and gflops['fusion'] > 0
    assert base['encoder MoE'] == base['decoder MoE'] == 0
    assert dset['decoder MoE'] > 0 and dset['encoder MoE'] > 0
    # same backbone and fusion: the mechanisms touch neither
    assert dset['backbone'] == pytest.approx(base['backbone'])
    assert dset['fusion'] == pytest.approx(base['fusion'])
    # top-2 of 3 full-width decoder experts: twice the dense FFN FLOPs
    assert dset['decoder'] > base['decoder']


def test_moe_and_pruning_rows(report):
    layers = {(r['layer'], r['experts'], r['top_k']) for r in report['moe']}
    assert layers == {('encoder', 2, 1), ('decoder', 3, 2)}
    for row in report['moe']:
        assert row['tokens'] == 64 and row['moe_over_ideal'] > 0
        assert row['flops_over_dense'] == row['top_k']
    # 720-like odd sizes: 96x160 has a 3x5 top level, 128x128 a 4x4 one
    tokens = sorted(r['tokens'] for r in report['pruning'])
    assert tokens == [15, 16]
    assert all(r['keep_ratio'] == pytest.approx(0.6)
               for r in report['pruning'])


def test_latency_per_part_and_deployed(report):
    for model in report['models'].values():
        assert model['fused_blocks'] == 12  # 4 CSP layers x 3 RepVGG
        for at in model['shapes'].values():
            parts = at['part_latency_ms']
            assert set(parts) == set(PARTS) | {'total'}
            assert parts['backbone'] > 0 and parts['decoder'] > 0
            assert at['latency_ms'] > 0 and at['fused_latency_ms'] > 0


def test_markdown_has_every_table(report):
    md = report['markdown']
    for title in ('Whole models at 128x128', 'Whole models at 96x160',
                  'Latency at 128x128 (batch 1, cpu)', 'fused RepVGG (ms)',
                  'MoE layers', 'Pruned encoder transformer'):
        assert title in md
    assert '2 per multiply-add' in md
    assert report['device'] == 'cpu'
    assert '2 per multiply-add' in report['flops_convention']


def test_missing_config_is_named(tmp_path):
    proc = run_tool(['tools/analysis_tools/dset_costs.py', 'configs/nope.py',
                     '--out-dir', str(tmp_path)], check=False)
    assert proc.returncode == 2
    assert 'configs/nope.py' in proc.stderr.strip().splitlines()[-1]
