"""PatchCurriculumHook: the crop size of each iteration, set on the
training set (also through dataset wrappers) before the iteration that
uses it, resuming at the right size, and clear errors."""
from types import SimpleNamespace

import pytest
from mmengine.dataset import RepeatDataset
from torch.utils.data import ConcatDataset

from featsel.datasets.restoration import (PairedRestorationDataset,
                                          make_demo_restoration)
from featsel.engine.hooks import PatchCurriculumHook, find_crop_datasets
from featsel.registry import HOOKS
from featsel.utils import ConfigError


@pytest.fixture(scope='module')
def tiny_set(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('restoration') / 'set')
    make_demo_restoration(root, num_scenes=3, variants=1, size=48,
                          large_size=None)
    return root


def _dataset(root: str) -> PairedRestorationDataset:
    return PairedRestorationDataset(
        data_root=root, pipeline=[
            dict(type='LoadPairedImages'),
            dict(type='PairedRandomCrop', crop_size=8),
            dict(type='PackRestorationInputs')])


def _size(dataset) -> tuple:
    return tuple(dataset[0]['inputs'].shape[1:])


def test_crop_size_by_iteration():
    assert HOOKS.get('PatchCurriculumHook') is PatchCurriculumHook
    hook = PatchCurriculumHook(crop_sizes=[256, 384, (512, 384)],
                               milestones=[100, 250])
    assert [hook.crop_size(i) for i in (0, 99, 100, 249, 250, 10**6)] == [
        256, 256, 384, 384, (512, 384), (512, 384)]


def test_sets_the_size_before_the_iteration_that_uses_it(tiny_set):
    dataset = _dataset(tiny_set)
    runner = SimpleNamespace(iter=0, train_dataloader=SimpleNamespace(
        dataset=dataset))
    hook = PatchCurriculumHook(crop_sizes=[16, 32, 48], milestones=[2, 3])
    hook.before_train(runner)
    sizes = []
    for it in range(4):
        runner.iter = it
        sizes.append(_size(dataset))  # the batch of iteration `it`
        hook.after_train_iter(runner, it)
    assert sizes == [(16, 16), (16, 16), (32, 32), (48, 48)]


def test_resumed_run_and_wrapped_set_get_the_current_size(tiny_set):
    first, second = _dataset(tiny_set), _dataset(tiny_set)
    wrapped = ConcatDataset([RepeatDataset(first, times=2), second])
    assert find_crop_datasets(wrapped) == [second, first]
    runner = SimpleNamespace(iter=5, train_dataloader=SimpleNamespace(
        dataset=wrapped))
    PatchCurriculumHook(crop_sizes=[16, 24], milestones=[4]).before_train(
        runner)
    assert _size(first) == _size(second) == (24, 24)


@pytest.mark.parametrize('sizes,milestones,match', [
    ([64, 96], [10, 20], 'one crop size more than milestones'),
    ([64, 96, 128], [20, 10], 'increasing'),
    ([64, 96], [-1], 'increasing and >= 0'),
])
def test_bad_schedules_are_config_errors(sizes, milestones, match):
    with pytest.raises(ConfigError, match=match):
        PatchCurriculumHook(crop_sizes=sizes, milestones=milestones)


def test_training_set_without_crop_size_is_an_error():
    runner = SimpleNamespace(iter=0, train_dataloader=SimpleNamespace(
        dataset=[1, 2, 3]))
    with pytest.raises(ConfigError, match='no set_crop_size'):
        PatchCurriculumHook(crop_sizes=[8], milestones=[]).before_train(
            runner)
