import importlib.util
import os
import os.path as osp
from collections import defaultdict

import cv2
import numpy as np
import pytest

from featsel.datasets import PairedRestorationDataset
from featsel.datasets.restoration import add_haze, make_scene, read_meta
from featsel.utils import ConfigError, DataError
from tests.conftest import REPO_ROOT
from tests.tool_runner import run_tool

TOOL = 'tools/dataset_converters/restoration_to_meta.py'


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'restoration_to_meta', osp.join(REPO_ROOT, TOOL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


@pytest.fixture(scope='module')
def sots(tmp_path_factory):
    """A SOTS-like indoor folder: 6 scenes x 2 haze levels, 48x64."""
    root = tmp_path_factory.mktemp('sots') / 'SOTS'
    for folder in ('indoor/hazy', 'indoor/gt'):
        os.makedirs(root / folder)
    for scene in range(1400, 1406):
        img, depth = make_scene(np.random.default_rng(scene), 48, 64)
        cv2.imwrite(str(root / 'indoor' / 'gt' / f'{scene}.png'),
                    np.round(img * 255).astype(np.uint8))
        for k in (1, 2):
            hazy = add_haze(img, depth, 0.4 * k, np.random.default_rng(k))
            cv2.imwrite(str(root / 'indoor' / 'hazy' / f'{scene}_{k}.png'),
                        np.round(hazy * 255).astype(np.uint8))
    return root


def test_sots_to_meta_with_scene_splits(sots, tmp_path):
    out = tmp_path / 'meta' / 'sots.jsonl'
    proc = run_tool([TOOL, str(sots), '--layout', 'reside_sots',
                     '--val-frac', '0.34', '--test-frac', '0.34',
                     '--out', str(out)])
    assert 'wrote 12 pairs of 6 scenes' in proc.stdout
    records = read_meta(str(out))
    splits = defaultdict(set)
    for r in records:
        splits[r['scene_id']].add(r['split'])
        assert r['dataset'] == 'SOTS-indoor' and r['degradation'] == 'haze'
        assert (r['w'], r['h']) == (64, 48)
        assert len(r['hash']) == 16
    assert all(len(s) == 1 for s in splits.values())
    assert sorted(s.pop() for s in splits.values()) == \
        ['test', 'test', 'train', 'train', 'val', 'val']
    # the stronger haze of a scene gets the larger estimated severity
    by_id = {r['id']: r['severity'] for r in records}
    assert all(by_id[f'SOTS-indoor_{s}_2'] > by_id[f'SOTS-indoor_{s}_1']
               for s in range(1400, 1406))
    ds = PairedRestorationDataset(
        ann_file=str(out), split='train',
        pipeline=[dict(type='LoadPairedImages'),
                  dict(type='PackRestorationInputs')])
    assert len(ds) == 4 and ds[0]['inputs'].shape == (3, 48, 64)
    assert osp.isfile(ds.get_data_info(0)['gt_path'])


def test_one_split_without_quality(sots, tmp_path, capsys):
    out = tmp_path / 'meta.jsonl'
    tool.main([str(sots), '--layout', 'reside_sots', '--split', 'test',
               '--no-quality', '--crop-border', '4', '--out', str(out)])
    assert 'wrote 12 pairs of 6 scenes' in capsys.readouterr().out
    records = read_meta(str(out))
    assert {r['split'] for r in records} == {'test'}
    assert all(r['hash'] is None and r['severity'] is None
               and r['crop_border'] == 4 for r in records)


@pytest.mark.parametrize('args, error, message', [
    (['--layout', 'folder_pairs'], ConfigError, '--layout folder_pairs '
     'needs --degradation'),
    (['--layout', 'reside_sots', '--lq-dir', 'x'], ConfigError, '--lq-dir '
     'is an option of --layout folder_pairs, not reside_sots'),
    (['--layout', 'snow100k'], DataError, 'holds synthetic/ and gt/'),
    (['--layout', 'folder_pairs', '--degradation', 'haze', '--lq-dir',
      'indoor/hazy', '--gt-dir', 'outdoor'], DataError,
     r'target folder \(--gt-dir\) ".*outdoor" does not exist'),
    (['--layout', 'reside_sots', '--crop-border', '-1'], ConfigError,
     '--crop-border must be >= 0'),
])
def test_bad_options(sots, tmp_path, args, error, message):
    with pytest.raises(error, match=message):
        tool.main([str(sots)] + args + ['--out', str(tmp_path / 'm.jsonl')])
    assert not (tmp_path / 'm.jsonl').exists()
