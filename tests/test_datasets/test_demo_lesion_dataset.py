import os

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from featsel.datasets import DemoLesionSegDataset
from featsel.registry import DATASETS
from featsel.utils import DataError
from tests.conftest import REPO_ROOT

TINY = dict(num_train=3, num_val=2, size=32)


def _base_train_dataset():
    cfg = Config.fromfile(os.path.join(REPO_ROOT, 'configs', '_base_',
                                       'datasets', 'demo_lesions.py'))
    return dict(cfg.train_dataloader.dataset)


def test_base_config_writes_the_set_at_its_default_root(tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    init_default_scope('featsel')
    dataset = DATASETS.build(dict(_base_train_dataset(), demo_cfg=TINY))
    assert isinstance(dataset, DemoLesionSegDataset)
    assert len(dataset) == 3
    out = dataset[0]
    assert tuple(out['inputs'].shape) == (3, 32, 32)
    assert os.path.isfile('data/demo_lesions/splits/val.txt')


def test_mistyped_root_is_an_error_and_writes_nothing(tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    init_default_scope('featsel')
    with pytest.raises(DataError) as err:
        DATASETS.build(dict(_base_train_dataset(),
                            data_root='data/demo_lesoins/'))
    message = str(err.value)
    assert 'data/demo_lesoins/' in message
    assert 'make_demo_data.py --out data/demo_lesoins/' in message
    assert os.listdir(tmp_path) == []


def test_create_demo_writes_at_another_root(tmp_path):
    root = str(tmp_path / 'elsewhere')
    dataset = DemoLesionSegDataset(
        data_root=root, create_demo=True, demo_cfg=TINY,
        ann_file='splits/val.txt',
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'))
    assert len(dataset) == 2
