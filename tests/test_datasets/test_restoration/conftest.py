"""Fixtures of the restoration data tests."""
import pytest


@pytest.fixture(scope='session')
def tiny_restoration_root(tmp_path_factory) -> str:
    """A tiny demo restoration set: 5 scenes x 1 variant x 3 tasks of 48²
    and a 160x90 "large" scene."""
    from featsel.datasets.restoration import make_demo_restoration
    root = str(tmp_path_factory.mktemp('demo_restoration') / 'set')
    make_demo_restoration(root, num_scenes=5, variants=1, size=48,
                          large_size=(160, 90))
    return root
