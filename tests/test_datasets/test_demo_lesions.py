import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from featsel.datasets import make_demo_lesions

REPO = Path(__file__).resolve().parents[2]


def _read_all(root: Path) -> dict:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


def test_layout_and_values(tmp_path):
    ids = make_demo_lesions(str(tmp_path), num_train=6, num_val=3, size=64)
    assert len(ids['train']) == 6 and len(ids['val']) == 3
    for split in ('train', 'val'):
        lines = (tmp_path / 'splits' / f'{split}.txt').read_text().split()
        assert lines == ids[split]
        for name in lines:
            img = cv2.imread(str(tmp_path / 'img_dir' / split / f'{name}.png'),
                             cv2.IMREAD_UNCHANGED)
            ann = cv2.imread(str(tmp_path / 'ann_dir' / split / f'{name}.png'),
                             cv2.IMREAD_UNCHANGED)
            assert img.shape == (64, 64, 3) and img.dtype == np.uint8
            assert ann.shape == (64, 64) and ann.dtype == np.uint8
            assert set(np.unique(ann)) <= {0, 1}


def test_too_small_size_rejected(tmp_path):
    with pytest.raises(ValueError, match='size'):
        make_demo_lesions(str(tmp_path), num_train=1, num_val=1, size=8)


def test_lesions_vary_in_size_and_count(tmp_path):
    make_demo_lesions(str(tmp_path), num_train=60, num_val=0, size=128)
    areas = np.array([
        (cv2.imread(str(p), cv2.IMREAD_UNCHANGED) > 0).sum()
        for p in sorted((tmp_path / 'ann_dir' / 'train').glob('*.png'))
    ])
    assert (areas > 0).mean() > 0.8
    nonzero = areas[areas > 0]
    assert nonzero.min() < 200 < 1500 < nonzero.max()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for name, seed in (('a', 3), ('b', 3), ('c', 4)):
        make_demo_lesions(
            str(tmp_path / name), num_train=4, num_val=2, size=48, seed=seed)
    a, b, c = (_read_all(tmp_path / n) for n in 'abc')
    assert a == b
    assert a.keys() == c.keys()
    assert any(a[k] != c[k] for k in a if k.startswith('img_dir'))


def test_train_split_independent_of_val_size(tmp_path):
    make_demo_lesions(str(tmp_path / 'a'), num_train=3, num_val=1, size=32)
    make_demo_lesions(str(tmp_path / 'b'), num_train=3, num_val=5, size=32)
    a = _read_all(tmp_path / 'a' / 'img_dir' / 'train')
    assert a == _read_all(tmp_path / 'b' / 'img_dir' / 'train')


def _load_tool():
    path = REPO / 'tools' / 'misc' / 'make_demo_data.py'
    spec = importlib.util.spec_from_file_location('make_demo_data', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_skips_existing_without_force(tmp_path, capsys):
    tool = _load_tool()
    out = tmp_path / 'demo'
    args = ['--out', str(out), '--num-val', '1', '--size', '32']
    train_dir = out / 'img_dir' / 'train'
    tool.main(args + ['--num-train', '2'])
    assert len(list(train_dir.glob('*.png'))) == 2
    capsys.readouterr()
    tool.main(args + ['--num-train', '1'])
    assert '--force' in capsys.readouterr().out
    assert len(list(train_dir.glob('*.png'))) == 2
    tool.main(args + ['--num-train', '1', '--force'])
    assert len(list(train_dir.glob('*.png'))) == 1
    assert (out / 'splits' / 'train.txt').read_text() == 'train_00000\n'
