import pytest
from mmengine.registry import init_default_scope

from featsel.datasets import LesionSegDataset, make_demo_lesions
from featsel.registry import DATASETS


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_lesions(str(root), num_train=5, num_val=3, size=32)
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


def test_length_classes_and_paths(tiny_root):
    init_default_scope('featsel')
    train = DATASETS.build(_cfg(tiny_root, 'train'))
    val = DATASETS.build(_cfg(tiny_root, 'val'))
    assert isinstance(train, LesionSegDataset)
    assert len(train) == 5 and len(val) == 3
    assert train.metainfo['classes'] == ('background', 'lesion')
    info = val.get_data_info(0)
    assert info['img_path'].endswith('img_dir/val/val_00000.png')
    assert info['seg_map_path'].endswith('ann_dir/val/val_00000.png')


def test_pipeline_packs_all_tasks(tiny_root):
    init_default_scope('featsel')
    pipeline = [
        dict(type='mmcv.LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
        dict(type='GenerateSDF'),
        dict(type='GenerateBoundary'),
        dict(type='PackMultiTaskInputs'),
    ]
    out = DATASETS.build(_cfg(tiny_root, pipeline=pipeline))[0]
    assert tuple(out['inputs'].shape) == (3, 32, 32)
    for task in ('seg', 'sdf', 'bnd'):
        assert tuple(out['data_samples'].get(f'gt_{task}').shape) == (32, 32)


@pytest.mark.parametrize('missing', ['img_dir/train', 'ann_dir/train',
                                     'splits/train.txt'])
def test_missing_path_names_it_and_the_generator(tmp_path, tiny_root,
                                                 missing):
    cfg = _cfg(tiny_root)
    cfg.pop('type')
    cfg['data_root'] = str(tmp_path)
    # Make every path but the missing one exist.
    for rel in ('img_dir/train', 'ann_dir/train'):
        if rel != missing:
            (tmp_path / rel).mkdir(parents=True)
    if missing != 'splits/train.txt':
        (tmp_path / 'splits').mkdir()
        (tmp_path / 'splits' / 'train.txt').write_text('')
    with pytest.raises(FileNotFoundError) as err:
        LesionSegDataset(**cfg)
    assert str(tmp_path / missing) in str(err.value)
    assert 'tools/misc/make_demo_data.py' in str(err.value)
