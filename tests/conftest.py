"""Shared test fixtures."""
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


@pytest.fixture(scope='session', autouse=True)
def _featsel_scope():
    """Register featsel modules and make 'featsel' the default scope."""
    from featsel.utils import register_all_modules
    register_all_modules(init_default_scope=True)


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory) -> str:
    """A small demo lesion set (shared by the tests that need data)."""
    from featsel.datasets import make_demo_lesions
    root = str(tmp_path_factory.mktemp('demo_lesions'))
    make_demo_lesions(root, num_train=16, num_val=8, size=64, seed=0)
    return root


@pytest.fixture(scope='session', autouse=True)
def _one_thread():
    """One intra-op thread: tiny tensors run faster, and a busy 2-core CI
    machine is not oversubscribed."""
    import torch
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def demo_shapes_root(tmp_path_factory) -> str:
    """A tiny demo shapes detection set (COCO format, 64x64 images)."""
    from featsel.datasets import make_demo_shapes_coco
    root = str(tmp_path_factory.mktemp('demo_shapes') / 'set')
    make_demo_shapes_coco(root, num_train=8, num_val=4, size=64, seed=0)
    return root
