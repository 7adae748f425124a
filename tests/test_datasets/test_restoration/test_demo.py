import importlib.util
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from featsel.datasets import (DemoRestorationDataset,
                              PairedRestorationDataset,
                              make_demo_restoration)
from featsel.datasets.restoration import read_meta
from featsel.datasets.restoration.demo import SEVERITY_RANGE, scene_splits
from featsel.utils import DataError

REPO = Path(__file__).resolve().parents[3]


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_layout_and_records(tiny_restoration_root):
    root = Path(tiny_restoration_root)
    records = read_meta(str(root / 'meta.jsonl'))
    small = [r for r in records if r['split'] != '4k']
    assert len(small) == 5 * 3
    assert {r['degradation'] for r in small} == {'haze', 'rain', 'snow'}
    for r in small:
        lq = cv2.imread(str(root / r['path_raw']))
        gt = cv2.imread(str(root / r['path_gt']))
        assert lq.shape == gt.shape == (48, 48, 3)
        assert (r['w'], r['h']) == (48, 48)
        assert SEVERITY_RANGE[0] <= r['severity'] <= SEVERITY_RANGE[1]
        assert r['capture_id'] == r['scene_id'] and len(r['hash']) == 16
        assert not np.array_equal(lq, gt)
    large = [r for r in records if r['split'] == '4k']
    assert [r['degradation'] for r in large] == ['haze', 'rain', 'snow']
    assert all(r['tile_cfg'] == dict(tile=512, overlap=64, blend='hann')
               for r in large)
    assert cv2.imread(str(root / large[0]['path_gt'])).shape == (90, 160, 3)


def test_splits_by_scene(tiny_restoration_root):
    splits = defaultdict(set)
    for r in read_meta(str(Path(tiny_restoration_root) / 'meta.jsonl')):
        splits[r['scene_id']].add(r['split'])
    assert all(len(s) == 1 for s in splits.values())
    assert {s.pop() for s in splits.values()} == {'train', 'val', 'test',
                                                  '4k'}
    # 70/15/15 % of 40 scenes: 28/6/6
    counts = defaultdict(int)
    for split in scene_splits(40, seed=3).values():
        counts[split] += 1
    assert dict(counts) == dict(train=28, val=6, test=6)


def test_same_arguments_same_bytes(tmp_path, tiny_restoration_root):
    make_demo_restoration(str(tmp_path), num_scenes=5, variants=1, size=48,
                          large_size=(160, 90))
    assert _files(tmp_path) == _files(Path(tiny_restoration_root))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_scenes >= 3'):
        make_demo_restoration(str(tmp_path), num_scenes=2)


def test_dataset_reads_the_demo_set(tiny_restoration_root):
    ds = PairedRestorationDataset(
        data_root=tiny_restoration_root, split='4k',
        pipeline=[dict(type='LoadPairedImages'),
                  dict(type='PackRestorationInputs')])
    assert len(ds) == 3
    sample = ds[1]
    assert sample['inputs'].shape == (3, 90, 160)
    assert sample['data_samples'].task == 'derain'
    assert sample['data_samples'].gt_img.shape == (3, 90, 160)


def test_demo_dataset_writes_only_at_the_default_root(tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = dict(num_scenes=3, variants=1, size=32, large_size=None)
    ds = DemoRestorationDataset(demo_cfg=cfg, split='train')
    assert (tmp_path / 'data' / 'demo_restoration' / 'meta.jsonl').is_file()
    assert len(ds) == 3 and ds.metainfo['tasks'] == ('dehaze', 'derain',
                                                     'desnow')
    with pytest.raises(DataError, match='"elsewhere" holds no demo '
                       'restoration set.*--set restoration --out elsewhere'):
        DemoRestorationDataset(data_root='elsewhere')
    other = DemoRestorationDataset(data_root='elsewhere', create_demo=True,
                                   demo_cfg=cfg)
    assert len(other) == 9


def test_make_demo_data_tool_writes_the_restoration_set(tmp_path, capsys):
    path = REPO / 'tools' / 'misc' / 'make_demo_data.py'
    spec = importlib.util.spec_from_file_location('make_demo_data', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'set'
    tool.main(['--set', 'restoration', '--out', str(out), '--num-scenes',
               '3', '--variants', '2', '--size', '32', '--no-large'])
    assert 'wrote 3 scenes x 2 variants x 3 tasks' in capsys.readouterr().out
    records = read_meta(str(out / 'meta.jsonl'))
    assert len(records) == 18 and {r['w'] for r in records} == {32}
