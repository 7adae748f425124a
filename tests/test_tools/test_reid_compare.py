"""tools/analysis_tools/reid_compare.py on one-layer ViTs: FLOPs and
parameters per part against hand counts, ratios to the baseline, metrics of
several runs of one config averaged, the targets checked, bad input in one
line."""
import json
import os
import os.path as osp
from statistics import stdev

import pytest
from mmengine.config import Config

from tests.conftest import REPO_ROOT
from tests.test_tools.test_benchmark import load_tool
from tests.tool_runner import run_tool

BASELINE = 'configs/reid/baseline_vit_tiny_demo.py'
SDTPS = 'configs/reid/sdtps_vit_tiny_demo.py'
# one block, width D = 32, 2 heads, patch 8 on 32 x 16 (N = 4 x 2 = 8
# patches, T = 9 tokens), projected to C = 16; three modalities
D, P, N, C, M = 32, 8, 8, 16, 3
T = N + 1
TINY = ['model.backbone.num_layers=1', f'model.backbone.embed_dims={D}',
        'model.backbone.num_heads=2', 'model.backbone.img_size=(32,16)',
        f'model.backbone.patch_size={P}', f'model.embed_dims={C}']

# FLOPs per image, 2 per multiply-add: patch conv, then one block (qkv,
# Q K^T and A V over all heads, output projection, MLP D -> 4D -> D), and
# the projection of every token
CONV_FLOPS = 2 * D * 3 * P * P * N
BLOCK_FLOPS = (2 * T * D * 3 * D + 2 * 2 * T * T * D + 2 * T * D * D +
               2 * 2 * T * D * 4 * D)
PROJ_FLOPS = 2 * T * D * C
# backbone parameters: conv (no bias), cls token, positions, one block
# (2 LayerNorms, qkv, out, fc1, fc2), the final LayerNorm
BACKBONE_PARAMS = (D * 3 * P * P + D + T * D + 4 * D + 3 * D * D + 3 * D +
                   D * D + D + D * 4 * D + 4 * D + 4 * D * D + D + 2 * D)

compare = load_tool('reid_compare')


def fake_run(root, config: str, name: str, metrics: dict) -> str:
    """A work dir as tools/train.py + test.py leave it: the config dump
    and eval_results.json."""
    work_dir = osp.join(str(root), name)
    os.makedirs(work_dir)
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    cfg.dump(osp.join(work_dir, osp.basename(config)))
    with open(osp.join(work_dir, 'eval_results.json'), 'w') as f:
        json.dump(dict(last_test=metrics), f)
    return work_dir


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp('runs')
    runs = [
        fake_run(root, BASELINE, 'base_s0', dict(mAP=50.0, R1=60.0,
                                                 mINP=20.0, R5=70.0)),
        fake_run(root, BASELINE, 'base_s1', dict(mAP=54.0, R1=62.0,
                                                 mINP=21.0, R5=71.0)),
        fake_run(root, SDTPS, 'sdtps_s0', dict(mAP=55.0, R1=61.0, mINP=23.0,
                                               R5=72.0)),
    ]
    out_dir = str(root / 'out')
    result = compare.main(runs + ['--warmup', '0', '--repeats', '1',
                                  '--out-dir', out_dir, '--threads', '1',
                                  '--cfg-options', *TINY])
    return result, out_dir


def test_flops_and_params_per_part_match_hand_counts(report):
    result, _ = report
    base = result['models']['baseline_vit_tiny_demo']
    assert base['flops_by_part']['backbone'] == M * (CONV_FLOPS +
                                                     BLOCK_FLOPS)
    assert base['flops_by_part']['projection'] == M * PROJ_FLOPS
    assert base['flops_by_part']['selectors'] == 0
    assert base['flops'] == M * (CONV_FLOPS + BLOCK_FLOPS + PROJ_FLOPS)
    assert base['params_by_part']['backbone'] == BACKBONE_PARAMS
    assert base['params_by_part']['projection'] == D * C + C
    # shared backbone: parts add up to the whole model
    assert sum(v for k, v in base['params_by_part'].items()
               if k != 'total') == base['params']


def test_sdtps_adds_selectors_and_a_branch(report):
    result, _ = report
    base = result['models']['baseline_vit_tiny_demo']
    sdtps = result['models']['sdtps_vit_tiny_demo']
    assert sdtps['params_by_part']['backbone'] == BACKBONE_PARAMS
    assert sdtps['params_by_part']['selectors'] > 0
    assert sdtps['flops_by_part']['selectors'] > 0
    assert sdtps['flops_by_part']['backbone'] == \
        base['flops_by_part']['backbone']
    ratio = result['ratios']['sdtps_vit_tiny_demo']
    for key in ('params', 'flops', 'latency_ms'):
        assert ratio[key] == pytest.approx(sdtps[key] / base[key])
    assert ratio['params'] > 1
    check = result['checks']['sdtps_vit_tiny_demo']
    added = 100 * (ratio['params'] - 1)
    assert check['params']['added_percent'] == pytest.approx(added)
    assert check['params']['met'] == (added <= 3.0)
    assert 'baseline_vit_tiny_demo' not in result['checks']


def test_runs_of_one_config_are_averaged(report):
    result, out_dir = report
    rows = result['rows']
    assert len(rows['baseline_vit_tiny_demo']['runs']) == 2
    m = rows['baseline_vit_tiny_demo']['metrics']
    assert m['mAP']['mean'] == pytest.approx(52.0)
    assert m['mAP']['std'] == pytest.approx(stdev([50.0, 54.0]))
    assert m['R1']['n'] == 2 and 'R5' not in m  # only mAP, R1, mINP shown
    assert rows['sdtps_vit_tiny_demo']['metrics']['mAP']['std'] == 0.0
    with open(osp.join(out_dir, 'compare.md')) as f:
        text = f.read()
    # sdtps - baseline mean: 55 - 52
    line = next(li for li in text.splitlines()
                if li.startswith('| sdtps_vit_tiny_demo'))
    assert '| +3.00 |' in line and '52.00 ± 2.83' in text
    with open(osp.join(out_dir, 'compare.json')) as f:
        saved = json.load(f)
    assert saved['tables'][0]['header'][:3] == ['model', 'runs', 'mAP']
    assert '2 per multiply-add' in saved['flops_convention']


def test_work_dir_without_config_dump_is_one_line(tmp_path):
    empty = tmp_path / 'run'
    empty.mkdir()
    proc = run_tool(['tools/analysis_tools/reid_compare.py', BASELINE,
                     str(empty)], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f'error: work dir "{empty}" holds 0 config dumps (*.py) []; '
        'expected one, as tools/train.py writes it']
