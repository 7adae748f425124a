"""PSNR and SSIM of featsel.evaluation.restoration against scikit-image."""
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from featsel.evaluation.restoration import (gaussian_kernel1d, image_quality,
                                            psnr, separable_filter, ssim,
                                            ssim_map)


def _pair(shape, noise, seed):
    rng = np.random.default_rng(seed)
    gt = rng.random(shape)
    pred = np.clip(gt + noise * rng.standard_normal(shape), 0, 1)
    return pred, gt


def _skimage(pred, gt, crop=0):
    """skimage's scores of (3, H, W) images after cropping."""
    if crop:
        pred, gt = (x[:, crop:-crop, crop:-crop] for x in (pred, gt))
    a, b = pred.transpose(1, 2, 0), gt.transpose(1, 2, 0)
    return (peak_signal_noise_ratio(b, a, data_range=1),
            structural_similarity(b, a, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False,
                                  data_range=1, channel_axis=-1))


@pytest.mark.parametrize('shape,noise,seed', [
    ((3, 11, 11), 0.1, 0), ((3, 32, 47), 0.02, 1), ((3, 64, 40), 0.3, 2)])
def test_matches_skimage(shape, noise, seed):
    pred, gt = _pair(shape, noise, seed)
    ours = image_quality(pred, gt)
    ref_psnr, ref_ssim = _skimage(pred, gt)
    assert abs(ours['psnr'] - ref_psnr) < 1e-5
    assert abs(ours['ssim'] - ref_ssim) < 1e-6


@pytest.mark.parametrize('crop', [1, 4, 8])
def test_crop_border_matches_skimage_on_the_cropped_images(crop):
    pred, gt = _pair((3, 40, 36), 0.1, 3)
    # damage only the border: cropping it away must raise the PSNR
    pred[:, :crop] = 1 - gt[:, :crop]
    ours = image_quality(pred, gt, crop_border=crop)
    ref_psnr, ref_ssim = _skimage(pred, gt, crop)
    assert abs(ours['psnr'] - ref_psnr) < 1e-5
    assert abs(ours['ssim'] - ref_ssim) < 1e-6
    assert ours['psnr'] > image_quality(pred, gt)['psnr'] + 1


def test_psnr_of_a_constant_offset_and_of_identical_images():
    gt = torch.rand(3, 16, 16, dtype=torch.float64) * 0.5
    # MSE = 0.1^2, so PSNR = 20 dB exactly
    assert psnr(gt + 0.1, gt).item() == pytest.approx(20.0, abs=1e-9)
    # MSE floored at 1e-10: 100 dB, finite
    assert psnr(gt, gt).item() == pytest.approx(100.0)
    assert ssim(gt, gt).item() == pytest.approx(1.0, abs=1e-12)


def test_batched_scores_are_the_per_image_scores():
    pred, gt = _pair((4, 3, 20, 24), 0.1, 4)
    x, y = torch.from_numpy(pred), torch.from_numpy(gt)
    batched = ssim(x, y)
    assert batched.shape == (4, )
    for i in range(4):
        assert batched[i].item() == pytest.approx(_skimage(pred[i], gt[i])[1],
                                                  abs=1e-6)
    assert ssim_map(x, y).shape == (4, 3, 10, 14)  # 11x11 window, no pad


def test_window_is_scipys_gaussian():
    kernel = gaussian_kernel1d(1.5)
    delta = np.zeros(21)
    delta[10] = 1
    reference = gaussian_filter1d(delta, 1.5, truncate=3.5)[5:16]
    assert kernel.numel() == 11
    np.testing.assert_allclose(kernel.numpy(), reference, atol=1e-15)


def test_replicate_filter_keeps_the_size_and_constants():
    x = torch.full((1, 2, 5, 7), 0.3, dtype=torch.float64)
    out = separable_filter(x, gaussian_kernel1d(1.0), padding='replicate')
    assert out.shape == x.shape
    torch.testing.assert_close(out, x)


def test_float32_gradient_flows_through_ssim_and_psnr():
    pred = torch.rand(1, 3, 16, 16, requires_grad=True)
    gt = torch.rand(1, 3, 16, 16)
    (ssim(pred, gt).sum() + psnr(pred, gt).sum()).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


@pytest.mark.parametrize('bad,match', [
    (dict(crop_border=8), 'leaves nothing'),
    (dict(crop_border=-1), '>= 0'),
])
def test_bad_crop_border(bad, match):
    x = torch.rand(3, 16, 16, dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        ssim(x, x, **bad)


def test_too_small_and_mismatched_images_are_errors():
    x = torch.rand(3, 10, 30, dtype=torch.float64)
    with pytest.raises(ValueError, match='at least 11'):
        ssim(x, x)
    with pytest.raises(ValueError, match='differ in shape'):
        psnr(x, x[:, :5])
    with pytest.raises(ValueError, match=r'\(3, H, W\)'):
        image_quality(np.zeros((1, 16, 16)), np.zeros((1, 16, 16)))
