"""tools/analysis_tools/restoration_compare.py on two hand-made runs:
numbers against scipy, the files it writes, and a clear error for runs
that scored different images."""
import json

import numpy as np
import pytest
from scipy import stats

from tests.tool_runner import run_tool

TOOL = 'tools/analysis_tools/restoration_compare.py'


def _write_run(folder, psnr_by_task, model, with_input=True):
    folder.mkdir()
    lines = []
    for task, values in psnr_by_task.items():
        for i, value in enumerate(values):
            record = dict(id=f'{task}_{i}', task=task,
                          metrics=dict(psnr=value, ssim=value / 40))
            if with_input:
                record['input_metrics'] = dict(psnr=value - 10,
                                               ssim=value / 50)
            lines.append(json.dumps(record))
    (folder / 'per_image.jsonl').write_text('\n'.join(lines) + '\n')
    (folder / 'summary.json').write_text(json.dumps(dict(model=model)))
    return str(folder)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp('runs')
    dense = {'dehaze': rng.normal(25, 2, 8), 'derain': rng.normal(28, 2, 12)}
    expert = {task: values + rng.normal(0.5, 0.3, values.size)
              for task, values in dense.items()}
    return (dense, expert,
            _write_run(root / 'dense', {k: v.tolist()
                                        for k, v in dense.items()}, 'dense'),
            _write_run(root / 'expert', {k: v.tolist()
                                         for k, v in expert.items()},
                       'expert'))


def test_per_task_and_macro_numbers(runs, tmp_path):
    dense, expert, dense_dir, expert_dir = runs
    proc = run_tool([TOOL, dense_dir, expert_dir, '--out-dir', str(tmp_path),
                     '--n-resamples', '2000'])
    assert '| dehaze | 8 |' in proc.stdout and 'expert - dense' in proc.stdout
    report = json.loads((tmp_path / 'restoration_compare.json').read_text())
    assert report['names'] == ['dense', 'expert']
    psnr = report['results']['psnr']
    for task in ('dehaze', 'derain'):
        ref = stats.ttest_rel(expert[task], dense[task])
        row = psnr[task]
        assert row['t'] == pytest.approx(ref.statistic, rel=1e-9)
        assert row['p'] == pytest.approx(ref.pvalue, rel=1e-6)
        diff = expert[task] - dense[task]
        assert row['d_z'] == pytest.approx(diff.mean() / diff.std(ddof=1))
        assert row['diff']['ci'][0] < row['diff']['mean'] < \
            row['diff']['ci'][1]
        assert row['input']['mean'] == pytest.approx(dense[task].mean() - 10)
    macro = psnr['macro']
    assert macro['n'] == 20
    assert macro['a']['mean'] == pytest.approx(
        (dense['dehaze'].mean() + dense['derain'].mean()) / 2)
    pooled = stats.ttest_rel(np.concatenate(list(expert.values())),
                             np.concatenate(list(dense.values())))
    assert macro['t'] == pytest.approx(pooled.statistic, rel=1e-9)
    assert 'ssim' in report['results']
    markdown = (tmp_path / 'restoration_compare.md').read_text()
    assert '### PSNR' in markdown and '### SSIM' in markdown


def test_runs_of_different_images_fail_clearly(runs, tmp_path):
    _, expert, dense_dir, _ = runs
    fewer = _write_run(tmp_path / 'fewer',
                       {'dehaze': expert['dehaze'][:5].tolist()}, 'fewer')
    proc = run_tool([TOOL, dense_dir, fewer], check=False)
    assert proc.returncode == 2
    assert 'different images' in proc.stderr and 'derain_0' in proc.stderr
