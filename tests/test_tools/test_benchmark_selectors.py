"""tools/analysis_tools/benchmark_selectors.py on tiny inputs."""
import json

from tests.tool_runner import run_tool


def test_benchmark_selectors_tiny_run(tmp_path):
    out = tmp_path / 'selectors.json'
    proc = run_tool([
        'tools/analysis_tools/benchmark_selectors.py', '--sizes', '16',
        '--gates', '1', '2', '--channels', '4', '--shape', '32', '32',
        '--batch-size', '2', '--warmup', '1', '--repeats', '1', '--threads',
        '1', '--selectors', 'configs/e1_taskdw.py', 'configs/e3_lre_prior.py',
        '--out', str(out)
    ], timeout=400)
    report = json.loads(out.read_text())
    assert [row['gates'] for row in report['mixing']] == [1, 2]
    for row in report['mixing']:
        assert row['output_abs'] <= 1e-5  # fused == naive
    names = [row['name'] for row in report['selectors']]
    assert len(names) == 3 and 'decoders' in names[0]
    assert 'ms / decoders' in proc.stdout
