"""restoration_experts_table.py: each expert against the dense model on its
own task's images (numbers against hand computation), the macro row, the
parameter table of the expert configs, and clear errors."""
import json
import os.path as osp

import numpy as np
import pytest

from featsel.evaluation.restoration_report import write_per_image
from featsel.utils import ConfigError, DataError
from tests.tool_runner import run_tool
from tools.analysis_tools.restoration_experts_table import (find_records,
                                                            main, task_pairs)

TOOL = 'tools/analysis_tools/restoration_experts_table.py'
# task -> per-image PSNR of (input, dense, expert), two images per task
PSNR = dict(dehaze=[(10., 20., 21.), (12., 22., 24.)],
            derain=[(15., 25., 25.5), (17., 27., 28.5)])


def _records(column: int, tasks=('dehaze', 'derain')) -> list:
    return [dict(id=f'{task}_{i}', task=task,
                 metrics=dict(psnr=row[column], ssim=row[column] / 100),
                 input_metrics=dict(psnr=row[0], ssim=row[0] / 100))
            for task in tasks for i, row in enumerate(PSNR[task])]


@pytest.fixture
def runs(tmp_path) -> dict:
    paths = dict(dense=str(tmp_path / 'dense' / 'per_image.jsonl'))
    write_per_image(_records(1), paths['dense'])
    for task in PSNR:
        # an expert tested on every task: only its own task counts
        paths[task] = str(tmp_path / task / 'run' / 'per_image.jsonl')
        write_per_image(_records(2), paths[task])
    return paths


def test_gains_per_task_and_macro_match_hand_computation(runs, tmp_path):
    out = tmp_path / 'table'
    main(['--dense', osp.dirname(runs['dense']), '--expert',
          f'dehaze={runs["dehaze"]}', '--expert',
          f'derain={osp.dirname(osp.dirname(runs["derain"]))}',
          '--n-resamples', '200', '--out-dir', str(out)])
    report = json.load(open(out / 'restoration_experts.json'))
    psnr = report['results']['psnr']
    for task, rows in PSNR.items():
        inp, dense, expert = np.array(rows).T
        assert psnr[task]['n'] == 2
        assert psnr[task]['input']['mean'] == pytest.approx(inp.mean())
        assert psnr[task]['a']['mean'] == pytest.approx(dense.mean())
        assert psnr[task]['b']['mean'] == pytest.approx(expert.mean())
        assert psnr[task]['diff']['mean'] == pytest.approx(
            (expert - dense).mean())
    # macro: mean of the task means (gains 1.5 and 1.0)
    assert psnr['macro']['diff']['mean'] == pytest.approx(1.25)
    assert psnr['macro']['n'] == 4
    table = (out / 'restoration_experts.md').read_text()
    assert '| derain | 2 | 16.00' in table
    assert 'expert - dense-unified' in table


def test_parameter_table_from_the_expert_configs(runs):
    proc = run_tool([TOOL, '--dense', runs['dense'], '--expert',
                     f'dehaze={runs["dehaze"]}', '--config',
                     'dehaze=configs/restoration/expert_dehaze_demo.py',
                     '--n-resamples', '100'])
    # adapters 4 992 of 302 003 (1.65 %); top groups decoder.2, decoder.3
    # and head: 5 168 + 5 360 + 435; unfrozen decoder.0, decoder.1: 78 016
    # + 20 576
    assert ('| dehaze | 302,003 | 4,992 | 1.65 % | 10,963 | 98,592 | '
            '37.93 % |') in proc.stdout


def test_bad_arguments_and_runs_are_clear_errors(runs, tmp_path):
    with pytest.raises(ConfigError, match='TASK=PATH'):
        task_pairs(['dehaze'], '--expert')
    with pytest.raises(ConfigError, match='twice'):
        task_pairs(['dehaze=a', 'dehaze=b'], '--expert')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataError, match='no per_image.jsonl below'):
        find_records(str(tmp_path / 'empty'))
    only_derain = str(tmp_path / 'derain_only.jsonl')
    write_per_image(_records(2, tasks=('derain', )), only_derain)
    with pytest.raises(DataError, match='scored no "dehaze" image'):
        main(['--dense', runs['dense'], '--expert', f'dehaze={only_derain}'])
    bad = run_tool([TOOL, '--dense', runs['dense'], '--expert', 'dehaze'],
                   check=False)
    assert bad.returncode == 2 and 'must be TASK=PATH' in bad.stderr
