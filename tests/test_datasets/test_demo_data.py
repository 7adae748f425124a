import os
import os.path as osp

import pytest

from featsel.datasets.demo_data import (DemoSet, ensure_demo_set,
                                        prepare_demo_root, write_demo_set)
from featsel.utils import ConfigError, DataError


def _build(folder, value=1):
    """A toy set: a data file, then the sentinel (written last)."""
    with open(osp.join(folder, 'data.txt'), 'w') as f:
        f.write(str(value))
    with open(osp.join(folder, 'done'), 'w') as f:
        f.write('')


TOY = DemoSet(name='toy set', default_root='data/toy/', sentinel='done',
              build=_build, options=('value', ),
              command='make-toy --out {root}')


def _value(root):
    with open(osp.join(root, 'data.txt')) as f:
        return int(f.read())


def test_write_keeps_or_overwrites_and_leaves_no_temporary(tmp_path):
    root = str(tmp_path / 'set')
    write_demo_set(TOY, root, value=1)
    write_demo_set(TOY, root, value=2)
    assert _value(root) == 1
    write_demo_set(TOY, root, overwrite=True, value=3)
    assert _value(root) == 3
    assert os.listdir(tmp_path) == ['set']
    assert ensure_demo_set(TOY, root, value=4) == root and _value(root) == 3


def test_interrupted_build_leaves_nothing(tmp_path):
    def fail(folder):
        raise KeyboardInterrupt

    broken = DemoSet(name='toy set', default_root='x', sentinel='done',
                     build=fail, options=())
    with pytest.raises(KeyboardInterrupt):
        write_demo_set(broken, str(tmp_path / 'set'))
    assert os.listdir(tmp_path) == []


def test_foreign_folder_is_kept(tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    with pytest.raises(DataError, match='holds no toy set'):
        write_demo_set(TOY, str(tmp_path))
    assert os.listdir(tmp_path) == ['notes.txt']


def test_first_use_writes_at_the_default_root_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepare_demo_root(TOY, 'data/toy', 'ToyDataset', dict(value=5))
    assert _value('data/toy') == 5
    with pytest.raises(DataError) as err:
        prepare_demo_root(TOY, 'data/tyo/', 'ToyDataset')
    message = str(err.value)
    for needle in ('ToyDataset', '"data/tyo/"', 'data/tyo/done',
                   '"data/toy/"', 'make-toy --out data/tyo/',
                   'create_demo=True'):
        assert needle in message, needle
    assert sorted(os.listdir('data')) == ['toy']


def test_create_demo_writes_anywhere(tmp_path):
    root = str(tmp_path / 'elsewhere')
    prepare_demo_root(TOY, root, 'ToyDataset', create_demo=True)
    assert _value(root) == 1
    # an existing set is used as it is, whatever demo_cfg says
    prepare_demo_root(TOY, root, 'ToyDataset', dict(value=9))
    assert _value(root) == 1


def test_unknown_demo_cfg_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match='ToyDataset.*demo_cfg.valu'):
        prepare_demo_root(TOY, str(tmp_path), 'ToyDataset', dict(valu=2))
