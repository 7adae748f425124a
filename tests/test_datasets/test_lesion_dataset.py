import os
import shutil

import pytest
from mmengine.registry import init_default_scope

from featsel.datasets import LesionSegDataset, make_demo_lesions
from featsel.registry import DATASETS
from featsel.utils import DataError


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_lesions(str(root), num_train=5, num_val=3, size=32)
    return root


@pytest.fixture
def copy_root(tiny_root, tmp_path):
    """A private copy of the tiny set that a test may damage."""
    root = tmp_path / 'set'
    shutil.copytree(tiny_root, root)
    return root


def _cfg(root, split='train', **kwargs):
    cfg = dict(
        type='LesionSegDataset',
        data_root=str(root),
        ann_file=f'splits/{split}.txt',
        data_prefix=dict(
            img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'))
    cfg.update(kwargs)
    return cfg


def _build(root, **kwargs):
    init_default_scope('featsel')
    return DATASETS.build(_cfg(root, **kwargs))


def test_length_classes_and_paths(tiny_root):
    train = _build(tiny_root)
    val = _build(tiny_root, split='val')
    assert isinstance(train, LesionSegDataset)
    assert len(train) == 5 and len(val) == 3
    assert train.metainfo['classes'] == ('background', 'lesion')
    info = val.get_data_info(0)
    assert info['img_path'].endswith('img_dir/val/val_00000.png')
    assert info['seg_map_path'].endswith('ann_dir/val/val_00000.png')


def test_pipeline_packs_all_tasks(tiny_root):
    pipeline = [
        dict(type='CheckedLoadImageFromFile'),
        dict(type='CheckedLoadAnnotations'),
        dict(type='GenerateSDF'),
        dict(type='GenerateBoundary'),
        dict(type='PackMultiTaskInputs',
             targets=dict(seg='gt_seg_map', sdf='gt_sdf_map',
                          bnd='gt_boundary_map')),
    ]
    out = _build(tiny_root, pipeline=pipeline)[0]
    assert tuple(out['inputs'].shape) == (3, 32, 32)
    for task in ('seg', 'sdf', 'bnd'):
        assert tuple(out['data_samples'].get(f'gt_{task}').shape) == (32, 32)


def test_blank_and_crlf_split_lines_are_ignored(copy_root):
    split = copy_root / 'splits' / 'train.txt'
    ids = split.read_text().split()
    split.write_bytes(('\r\n'.join(ids[:3]) + '\r\n\r\n  \n\n').encode())
    dataset = _build(copy_root)
    assert [os.path.basename(dataset.get_data_info(i)['img_path'])
            for i in range(len(dataset))] == [f'{i}.png' for i in ids[:3]]


def test_without_split_every_image_is_a_sample(tiny_root):
    assert len(_build(tiny_root, ann_file='')) == 5


@pytest.mark.parametrize('missing, key', [
    ('img_dir/train', 'data_prefix.img_path'),
    ('ann_dir/train', 'data_prefix.seg_map_path'),
])
def test_missing_folder_names_it_and_its_key(copy_root, missing, key):
    shutil.rmtree(copy_root / missing)
    with pytest.raises(DataError) as err:
        _build(copy_root)
    assert str(copy_root / missing) in str(err.value)
    assert key in str(err.value)
    # not the demo set's root: no advice to write demo data
    assert 'make_demo_data' not in str(err.value)


def test_missing_split_file_says_ann_file_empty_lists_every_image(copy_root):
    os.remove(copy_root / 'splits' / 'train.txt')
    with pytest.raises(DataError) as err:
        _build(copy_root)
    assert str(copy_root / 'splits' / 'train.txt') in str(err.value)
    assert "ann_file=''" in str(err.value)


def test_default_demo_root_points_to_the_demo_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match='make_demo_data.py --out'):
        _build('data/demo_lesions/')


@pytest.mark.parametrize('folder, what', [('img_dir', 'images'),
                                          ('ann_dir', 'masks')])
def test_missing_image_or_mask_names_the_file(copy_root, folder, what):
    gone = copy_root / folder / 'train' / 'train_00003.png'
    os.remove(gone)
    with pytest.raises(DataError) as err:
        _build(copy_root)
    message = str(err.value)
    assert f'1 of 5 {what}' in message and str(gone) in message
    assert str(copy_root / 'splits' / 'train.txt') in message


def test_split_listing_ids_of_an_empty_img_dir(copy_root):
    for path in (copy_root / 'img_dir' / 'train').iterdir():
        path.unlink()
    with pytest.raises(DataError, match='5 of 5 images listed in split file'):
        _build(copy_root)


def test_empty_split_file(copy_root):
    (copy_root / 'splits' / 'train.txt').write_text('\n\n')
    with pytest.raises(DataError, match='is empty: split file .* lists no'):
        _build(copy_root)


def test_empty_img_dir_without_split(copy_root):
    for path in (copy_root / 'img_dir' / 'train').iterdir():
        path.unlink()
    with pytest.raises(DataError) as err:
        _build(copy_root, ann_file='')
    assert 'is empty' in str(err.value)
    assert str(copy_root / 'img_dir' / 'train') in str(err.value)
    assert '".png" (img_suffix)' in str(err.value)
