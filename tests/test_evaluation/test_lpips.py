"""LPIPS from local weight files: strict loading, clear messages, the
distance's formula and its behaviour."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from featsel.evaluation.lpips import LPIPS, write_random_lpips_weights
from featsel.utils import ConfigError

ALEXNET_KEYS = [f'features.{i}.{p}' for i in (0, 3, 6, 8, 10)
                for p in ('weight', 'bias')]
LIN_KEYS = [f'lin{k}.model.1.weight' for k in range(5)]


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    return write_random_lpips_weights(str(tmp_path_factory.mktemp('lpips')))


@pytest.fixture(scope='module')
def lpips(weights):
    return LPIPS.from_files(*weights)


def test_files_have_torchvision_and_lpips_keys(weights):
    alexnet, lin = (torch.load(p, weights_only=True) for p in weights)
    assert list(alexnet) == ALEXNET_KEYS
    assert alexnet['features.0.weight'].shape == (64, 3, 11, 11)
    assert list(lin) == LIN_KEYS
    assert [lin[k].shape[1] for k in LIN_KEYS] == [64, 192, 384, 256, 256]


def _reference(x, y, alexnet, lin):
    """LPIPS written out with functional ops from the state dicts."""
    shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1)
    scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)

    def taps(z):
        z = (2 * z - 1 - shift) / scale
        out = []
        for i, stride, pad, pool in ((0, 4, 2, True), (3, 1, 2, True),
                                     (6, 1, 1, False), (8, 1, 1, False),
                                     (10, 1, 1, False)):
            z = F.relu(F.conv2d(z, alexnet[f'features.{i}.weight'],
                                alexnet[f'features.{i}.bias'], stride, pad))
            out.append(z)
            if pool:
                z = F.max_pool2d(z, 3, 2)
        return out

    total = 0
    for k, (fx, fy) in enumerate(zip(taps(x), taps(y))):
        fx = fx / (fx.norm(dim=1, keepdim=True) + 1e-10)
        fy = fy / (fy.norm(dim=1, keepdim=True) + 1e-10)
        total = total + F.conv2d((fx - fy)**2,
                                 lin[f'lin{k}.model.1.weight']).mean((1, 2,
                                                                      3))
    return total


def test_distance_is_the_lpips_formula(lpips, weights):
    alexnet, lin = (torch.load(p, weights_only=True) for p in weights)
    torch.manual_seed(0)
    x, y = torch.rand(2, 3, 48, 40), torch.rand(2, 3, 48, 40)
    torch.testing.assert_close(lpips(x, y), _reference(x, y, alexnet, lin))


def test_zero_for_identical_images_and_growing_with_noise(lpips):
    torch.manual_seed(0)
    x = torch.rand(4, 3, 64, 64)
    assert lpips(x, x).abs().max() == 0
    distances = [lpips(x, (x + s * torch.randn_like(x)).clamp(0, 1)).mean()
                 for s in (0.02, 0.1, 0.3)]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_frozen_with_gradient_to_the_input(lpips):
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    lpips(x, torch.rand(1, 3, 32, 32)).sum().backward()
    assert x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None
               for p in lpips.parameters())
    assert not lpips.train().training


def test_missing_file_names_it(weights, tmp_path):
    missing = str(tmp_path / 'alexnet-owt.pth')
    with pytest.raises(FileNotFoundError, match='alexnet-owt.pth'):
        LPIPS.from_files(missing, weights[1])
    with pytest.raises(FileNotFoundError, match='no_lin.pth'):
        LPIPS.from_files(weights[0], str(tmp_path / 'no_lin.pth'))


def test_loading_is_strict(weights, tmp_path):
    alexnet, lin = (torch.load(p, weights_only=True) for p in weights)
    # a full ImageNet checkpoint: the classifier is ignored
    full = dict(alexnet, **{'classifier.1.weight': torch.zeros(2, 2)})
    torch.save(full, tmp_path / 'full.pth')
    LPIPS.from_files(str(tmp_path / 'full.pth'), weights[1])
    cases = {
        'missing': ({k: v for k, v in lin.items() if k != LIN_KEYS[4]},
                    LIN_KEYS[4]),
        'extra': (dict(lin, **{'lin5.model.1.weight': torch.zeros(1)}),
                  'lin5.model.1.weight'),
        'shape': (dict(lin, **{'lin0.model.1.weight': torch.zeros(1, 3, 1,
                                                                   1)}),
                  r'lin0.model.1.weight has shape \(1, 3, 1, 1\)'),
    }
    for name, (state, match) in cases.items():
        path = str(tmp_path / f'{name}.pth')
        torch.save(state, path)
        with pytest.raises(ConfigError, match=match):
            LPIPS.from_files(weights[0], path)


def test_reads_the_heads_shipped_with_torchmetrics_when_installed(weights):
    spec = importlib.util.find_spec('torchmetrics')
    path = spec and osp.join(spec.submodule_search_locations[0], 'functional',
                             'image', 'lpips_models', 'alex.pth')
    if not path or not osp.isfile(path):
        pytest.skip('no LPIPS v0.1 head file installed')
    model = LPIPS.from_files(weights[0], path)
    assert all((p >= 0).all() for p in model.lin.parameters())
