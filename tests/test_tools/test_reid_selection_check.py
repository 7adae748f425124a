"""tools/analysis_tools/reid_selection_check.py on a one-layer SDTPS model
and a tiny demo set: the random selection moves the selection branch's
feature and nothing else, the differences are random - score, and a model
without a selector is refused in one line."""
import json
import os.path as osp

import pytest
import torch

from featsel.apis import init_model
from tests.test_tools.test_benchmark import load_tool
from tests.tool_runner import run_tool

TOOL = 'tools/analysis_tools/reid_selection_check.py'
SDTPS = 'configs/reid/sdtps_vit_tiny_demo.py'
BASELINE = 'configs/reid/baseline_vit_tiny_demo.py'
TINY = ['model.num_classes=4', 'model.embed_dims=16',
        'model.backbone.embed_dims=32', 'model.backbone.num_layers=1',
        'model.backbone.num_heads=2']

check = load_tool('reid_selection_check')


def test_relative_change_by_hand():
    ref = torch.tensor([[3.0, 4.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    other = torch.tensor([[3.0, 9.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    # row 0: |(0, 5, 0, 0)| / |(3, 4, 1, 0)|; row 1: nothing changed
    change = check.relative_change(ref, other)
    assert change.tolist() == pytest.approx([5 / 26**0.5, 0.0])
    got = check.feature_changes(ref, other, ['global', 'sdtps'])
    # the first two columns are the first branch, the last two the second
    assert got['global']['max'] == pytest.approx(1.0)  # |(0,5)| / |(3,4)|
    assert got['sdtps'] == dict(mean=0.0, median=0.0, max=0.0)
    assert got['feature']['mean'] == pytest.approx(5 / 26**0.5 / 2)


@pytest.fixture(scope='module')
def data_options(tmp_path_factory):
    from featsel.datasets.reid.demo_rgbnt201 import write_demo_rgbnt201
    root = write_demo_rgbnt201(
        str(tmp_path_factory.mktemp('rgbnt201') / 'set'), num_train_ids=4,
        num_test_ids=3, num_cameras=2, images_per_camera=2, seed=0)
    return [f'test_dataloader.dataset.data_root={root}',
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False',
            'test_dataloader.batch_size=4']


def _checkpoint(config: str, path) -> str:
    options = dict(o.split('=', 1) for o in TINY)
    options = {k: int(v) for k, v in options.items()}
    torch.manual_seed(0)
    model = init_model(config, cfg_options=options)
    torch.save(dict(state_dict=model.state_dict()), str(path))
    return str(path)


def test_random_selection_moves_the_selection_branch_only(tmp_path,
                                                          data_options):
    ckpt = _checkpoint(SDTPS, tmp_path / 'sdtps.pth')
    out = str(tmp_path / 'check.json')
    proc = run_tool([TOOL, SDTPS, ckpt, '--out', out, '--seed', '3',
                     '--cfg-options', *TINY, *data_options])
    with open(out) as f:
        report = json.load(f)
    assert report['num_samples'] == 3 * 2 * 2  # ids x cameras x images
    score, random = report['metrics']['score'], report['metrics']['random']
    assert set(score) >= {'mAP', 'R1', 'mINP'}
    for key, value in score.items():
        assert 0.0 <= value <= 100.0
        assert report['delta'][key] == pytest.approx(random[key] - value)
    change = report['feature_change']
    assert change['global'] == dict(mean=0.0, median=0.0, max=0.0)
    assert change['sdtps']['mean'] > 1e-3
    # the same difference over a longer vector (the unchanged global part)
    assert 0 < change['feature']['mean'] < change['sdtps']['mean']
    assert 'random - score' in proc.stdout
    assert report['seed'] == 3 and report['tables'][0]['rows']


def test_model_without_selector_is_one_line(tmp_path, data_options):
    ckpt = _checkpoint(BASELINE, tmp_path / 'baseline.pth')
    proc = run_tool([TOOL, BASELINE, ckpt, '--out',
                     str(tmp_path / 'x.json'), '--cfg-options', *TINY,
                     *data_options], check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: the model of ')
    assert 'has no token selector' in lines[0]
    assert not osp.exists(tmp_path / 'x.json')
