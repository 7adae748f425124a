"""Restoration losses: values against their formulas, zero (or eps) at the
clean image, gradients to the prediction, and losses that fall."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from featsel.evaluation.lpips import write_random_lpips_weights
from featsel.models import build_loss
from featsel.models.losses.restoration_losses import sobel


def _images(size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 3, size, size, generator=g)
    lq = (target + 0.3 * torch.rand(2, 1, size, size, generator=g)).clamp(0,
                                                                         1)
    return target, lq


@pytest.fixture(scope='module')
def lpips_files(tmp_path_factory):
    return write_random_lpips_weights(str(tmp_path_factory.mktemp('lpips')))


def _configs(lpips_files):
    alexnet, lin = lpips_files
    return {
        'CharbonnierLoss': dict(type='CharbonnierLoss'),
        'PixelL1Loss': dict(type='PixelL1Loss'),
        'SSIMLoss': dict(type='SSIMLoss'),
        'SobelEdgeLoss': dict(type='SobelEdgeLoss'),
        'RainDirectionLoss': dict(type='RainDirectionLoss'),
        'SnowMaskWeightedLoss': dict(type='SnowMaskWeightedLoss'),
        'LPIPSLoss': dict(type='LPIPSLoss', alexnet_path=alexnet,
                          lin_path=lin),
    }


NAMES = ['CharbonnierLoss', 'PixelL1Loss', 'SSIMLoss', 'SobelEdgeLoss',
         'RainDirectionLoss', 'SnowMaskWeightedLoss', 'LPIPSLoss']
#: value at pred == target (Charbonnier's minimum is eps)
AT_TARGET = dict(CharbonnierLoss=1e-3, SnowMaskWeightedLoss=1e-3)


@pytest.mark.parametrize('name', NAMES)
def test_minimal_at_the_clean_image_positive_otherwise(name, lpips_files):
    loss = build_loss(_configs(lpips_files)[name])
    target, lq = _images()
    at_target = loss(target.clone(), target, lq=lq)
    assert at_target.item() == pytest.approx(AT_TARGET.get(name, 0.0),
                                             abs=1e-6)
    assert loss(lq, target, lq=lq).item() > at_target.item() + 1e-4


@pytest.mark.parametrize('name', NAMES)
def test_gradient_flows_to_the_prediction_and_the_loss_falls(name,
                                                             lpips_files):
    loss = build_loss(_configs(lpips_files)[name])
    target, lq = _images()
    pred = ((lq + target) / 2).clone().requires_grad_(True)
    first = loss(pred, target, lq=lq)
    first.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    optimizer = torch.optim.Adam([pred], lr=0.01)
    for _ in range(20):
        optimizer.zero_grad()
        loss(pred, target, lq=lq).backward()
        optimizer.step()
    assert loss(pred, target, lq=lq).item() < first.item()


@pytest.mark.parametrize('name', NAMES)
def test_loss_weight_scales(name, lpips_files):
    cfg = _configs(lpips_files)[name]
    target, lq = _images()
    pred = (lq + target) / 2
    plain = build_loss(cfg)(pred, target, lq=lq)
    weighted = build_loss(dict(cfg, loss_weight=0.05))(pred, target, lq=lq)
    assert weighted.item() == pytest.approx(0.05 * plain.item(), rel=1e-5)


def test_charbonnier_and_l1_formulas():
    target, lq = _images()
    diff = lq - target
    charbonnier = build_loss(dict(type='CharbonnierLoss', eps=0.01))
    assert charbonnier(lq, target).item() == pytest.approx(
        (diff**2 + 1e-4).sqrt().mean().item(), rel=1e-6)
    l1 = build_loss(dict(type='PixelL1Loss'))
    assert l1(lq, target).item() == pytest.approx(
        F.l1_loss(lq, target).item(), rel=1e-6)


def test_ssim_loss_is_one_minus_skimage_ssim():
    target, lq = (x.double() for x in _images())
    value = build_loss(dict(type='SSIMLoss'))(lq, target).item()
    reference = np.mean([structural_similarity(
        t.numpy().transpose(1, 2, 0), p.numpy().transpose(1, 2, 0),
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1, channel_axis=-1) for p, t in zip(lq, target)])
    assert value == pytest.approx(1 - reference, abs=1e-9)


def test_sobel_of_a_ramp_and_the_edge_loss_of_a_shifted_edge():
    ramp = torch.arange(8.).repeat(8, 1)[None, None]  # d/dx = 1
    gx, gy = sobel(ramp)[0, :, 0]
    torch.testing.assert_close(gx[1:-1, 1:-1], torch.ones(6, 6))
    torch.testing.assert_close(gy, torch.zeros(8, 8))
    step = torch.zeros(1, 3, 16, 16)
    step[..., 8:] = 1
    loss = build_loss(dict(type='SobelEdgeLoss'))
    shifted = torch.roll(step, 2, dims=-1)
    blurred = F.avg_pool2d(step, 3, 1, 1, count_include_pad=False)
    assert loss(shifted, step) > loss(blurred, step) > 0


def _streaks(angle_deg, size=48, seed=0):
    """A rain layer of thin streaks at ``angle_deg`` from the vertical."""
    g = torch.Generator().manual_seed(seed)
    layer = torch.zeros(1, 1, size, size)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size),
                            indexing='ij')
    theta = math.radians(angle_deg)
    for _ in range(40):
        cy, cx = torch.randint(0, size, (2, ), generator=g).tolist()
        # distance to the streak line through (cy, cx)
        dist = ((xs - cx) * math.cos(theta) - (ys - cy) * math.sin(theta))
        along = ((xs - cx) * math.sin(theta) + (ys - cy) * math.cos(theta))
        layer[0, 0][(dist.abs() < 0.7) & (along.abs() < 8)] = 0.5
    return layer.expand(1, 3, size, size)


def test_rain_direction_loss_orders_orientation_errors():
    loss = build_loss(dict(type='RainDirectionLoss'))
    target = torch.full((1, 3, 48, 48), 0.3)
    rain = _streaks(10)
    lq = target + rain
    exact = loss(target, target, lq=lq)
    half = loss(target + rain / 2, target, lq=lq)  # half the rain left
    # removes streaks of the perpendicular direction instead
    wrong = loss(lq - _streaks(100, seed=1), target, lq=lq)
    assert exact.item() == pytest.approx(0, abs=1e-7)
    assert 0 < half < wrong
    # u(R / 2) = u(R) / 4, so half removal costs 3/4 of removing nothing
    nothing = loss(lq, target, lq=lq)
    assert half.item() == pytest.approx(0.75 * nothing.item(), rel=1e-4)
    # independent of the rain's contrast
    assert loss(target + rain, target, lq=target + 2 * rain).item() == \
        pytest.approx(loss(target + rain / 2, target,
                           lq=target + rain).item(), rel=1e-4)


def test_rain_and_snow_losses_need_the_degraded_input():
    target, _ = _images()
    for name in ('RainDirectionLoss', 'SnowMaskWeightedLoss'):
        with pytest.raises(ValueError, match='lq=lq'):
            build_loss(dict(type=name))(target, target)


def _snowy(size=32):
    target = torch.full((1, 3, size, size), 0.4)
    lq = target.clone()
    lq[..., 8:11, 8:11] += 0.5  # one flake of 3 px
    return target, lq


def test_snow_map_peaks_on_the_flake():
    loss = build_loss(dict(type='SnowMaskWeightedLoss'))
    target, lq = _snowy()
    snow = loss.snow_map(lq, target)[0, 0]
    assert snow.max() == pytest.approx(1.0)
    assert snow[9, 9] > 0.8
    assert snow[24:, 24:].max() == 0


def test_snow_weighting_makes_errors_on_flakes_cost_more():
    target, lq = _snowy()
    on_flake, elsewhere = target.clone(), target.clone()
    on_flake[..., 9, 9] += 0.2
    elsewhere[..., 24, 24] += 0.2
    weighted = build_loss(dict(type='SnowMaskWeightedLoss', mask_weight=4.0,
                               pixel_loss=dict(type='PixelL1Loss')))
    assert weighted(on_flake, target, lq=lq) > weighted(elsewhere, target,
                                                        lq=lq)
    # no weighting: the pixel loss itself
    plain = build_loss(dict(type='SnowMaskWeightedLoss', mask_weight=0.0,
                            pixel_loss=dict(type='PixelL1Loss')))
    assert plain(on_flake, target, lq=lq).item() == pytest.approx(
        F.l1_loss(on_flake, target).item(), rel=1e-6)


@pytest.mark.parametrize('kwargs,error', [
    (dict(pixel_loss=dict(type='SSIMLoss')), TypeError),
    (dict(sigmas=(2.0, 1.0)), ValueError),
    (dict(sigmas=(1.0, )), ValueError),
])
def test_snow_loss_bad_arguments(kwargs, error):
    with pytest.raises(error):
        build_loss(dict(type='SnowMaskWeightedLoss', **kwargs))


def test_lpips_loss_keeps_its_network_out_of_parameters_and_checkpoints(
        lpips_files):
    loss = build_loss(dict(type='LPIPSLoss', alexnet_path=lpips_files[0],
                           lin_path=lpips_files[1]))
    assert loss.available
    assert list(loss.parameters()) == [] and loss.state_dict() == {}


def test_lpips_loss_missing_weights(tmp_path, lpips_files):
    missing = str(tmp_path / 'alexnet-owt-7be5be79.pth')
    with pytest.raises(FileNotFoundError, match='alexnet-owt-7be5be79.pth'):
        build_loss(dict(type='LPIPSLoss', alexnet_path=missing,
                        lin_path=lpips_files[1]))
    with pytest.warns(UserWarning, match='alexnet-owt-7be5be79.pth'):
        skipped = build_loss(dict(type='LPIPSLoss', alexnet_path=missing,
                                  lin_path=lpips_files[1],
                                  skip_missing=True))
    assert not skipped.available
    pred = torch.rand(1, 3, 32, 32, requires_grad=True)
    value = skipped(pred, torch.rand(1, 3, 32, 32))
    value.backward()
    assert value.item() == 0 and pred.grad.abs().sum() == 0
