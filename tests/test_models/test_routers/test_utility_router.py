"""UtilityRouter: size, inputs it reads (global vector or image only),
calibrated probabilities, image statistics against their formulas, and a
router that learns from soft utility labels."""
import math

import pytest
import torch

from featsel.models import build_loss, build_router
from featsel.models.losses import soft_utility_labels
from featsel.models.routers.utility_router import (NUM_IMAGE_STATS,
                                                   UtilityRouter,
                                                   image_statistics)
from featsel.utils import ConfigError


def _params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('cfg', [
    dict(in_dims=64),
    dict(in_dims=1024),
    dict(input='local'),
    dict(input='local', arch='conv'),
])
def test_default_size_is_under_five_million_parameters(cfg):
    router = build_router(dict(type='UtilityRouter', **cfg))
    assert isinstance(router, UtilityRouter)
    assert 0 < _params(router) < 5_000_000


def test_global_router_reads_only_the_global_vector():
    torch.manual_seed(0)
    router = UtilityRouter(num_experts=3, in_dims=8).eval()
    g = torch.randn(4, 8)
    image = torch.rand(4, 3, 16, 16, requires_grad=True)
    logits = router(g, image=image)
    assert logits.shape == (4, 3)
    torch.testing.assert_close(logits, router(g))
    torch.testing.assert_close(logits, router(g, image=torch.rand(4, 3, 9,
                                                                  9)))
    logits.sum().backward()
    assert image.grad is None
    with pytest.raises(ValueError, match='global_vec'):
        router(image=image)
    with pytest.raises(ValueError, match=r'\(B, 8\)'):
        router(torch.randn(4, 7))


@pytest.mark.parametrize('arch', ['mlp', 'conv'])
def test_local_router_reads_only_the_image(arch):
    torch.manual_seed(0)
    router = UtilityRouter(input='local', arch=arch).eval()
    image = torch.rand(2, 3, 40, 56, requires_grad=True)
    g = torch.randn(2, 64, requires_grad=True)
    logits = router(g, image=image)
    assert logits.shape == (2, 3)
    torch.testing.assert_close(logits, router(torch.randn(2, 64),
                                              image=image))
    torch.testing.assert_close(logits, router(image=image))
    logits.sum().backward()
    assert g.grad is None
    assert image.grad is not None and image.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='image'):
        router(g)


def test_predict_proba_is_the_tempered_softmax():
    logits = torch.tensor([[2., 0., -1.], [0.5, 0.5, 3.]])
    for t in (0.5, 1.0, 3.0):
        p = UtilityRouter.predict_proba(logits, t)
        torch.testing.assert_close(p, torch.softmax(logits / t, -1))
        torch.testing.assert_close(p.sum(-1), torch.ones(2))
    # a higher temperature lowers the top probability
    assert (UtilityRouter.predict_proba(logits, 3.).amax(-1) <
            UtilityRouter.predict_proba(logits, 1.).amax(-1)).all()
    with pytest.raises(ValueError, match='temperature'):
        UtilityRouter.predict_proba(logits, 0.)


@pytest.mark.parametrize('cfg,key', [
    (dict(), 'in_dims'),
    (dict(in_dims=8, arch='conv'), "arch='conv'"),
    (dict(in_dims=8, input='tokens'), 'input'),
    (dict(in_dims=8, arch='vit'), 'arch'),
    (dict(in_dims=8, num_experts=1), 'num_experts'),
    (dict(input='local', image_size=4), 'image_size'),
])
def test_bad_config_names_the_key(cfg, key):
    with pytest.raises(ConfigError, match=key):
        UtilityRouter(**cfg)


def test_image_statistics_of_a_constant_image():
    colour = torch.tensor([0.2, 0.5, 0.7])
    image = colour.view(1, 3, 1, 1).expand(2, 3, 30, 20)
    stats = image_statistics(image, size=16)
    assert stats.shape == (2, NUM_IMAGE_STATS)
    expected = torch.tensor([0.2, 0.5, 0.7, 0, 0, 0, 0.5, 0.2, 0, 0, 0, 0, 0,
                             0])
    torch.testing.assert_close(stats[0], expected, atol=1e-6, rtol=0)


def test_image_statistics_of_vertical_stripes():
    """Columns 0/1 alternating: gradients only along x (coherence 1),
    residual of a 3x3 box filter known in closed form."""
    row = torch.arange(16) % 2
    image = row.float().view(1, 1, 1, 16).expand(1, 3, 16, 16)
    stats = image_statistics(image, size=16)[0]
    assert stats[:3].tolist() == [0.5] * 3
    torch.testing.assert_close(stats[3:6], torch.full((3, ), 0.5))
    assert stats[6] == 0                            # grey: no saturation
    assert stats[7] == 0 and stats[8] == 0          # dark channel 0
    torch.testing.assert_close(stats[9], torch.tensor(1.))  # |g_x| = 1
    assert stats[10] == 0
    torch.testing.assert_close(stats[11], torch.tensor(1.), atol=1e-5,
                               rtol=0)
    # interior: r = 1 - 1/3 on ones, 0 - 2/3 on zeros -> |r| = 2/3 there;
    # the replicate-padded border columns differ, so only bound it
    assert 0.6 < stats[12] < 2 / 3 + 1e-6


def test_image_statistics_see_haze_and_bright_blobs():
    torch.manual_seed(0)
    clean = torch.rand(1, 3, 64, 64)
    hazy = 0.4 * clean + 0.6 * 0.9          # I = J t + A (1 - t)
    s_clean, s_hazy = image_statistics(clean)[0], image_statistics(hazy)[0]
    assert s_hazy[7] > s_clean[7]           # brighter dark channel
    assert s_hazy[3:6].max() < s_clean[3:6].min()  # less contrast
    blobs = torch.zeros(1, 3, 64, 64)
    blobs[..., ::8, ::8] = 1.0
    assert image_statistics(blobs)[0, 13] > 0  # bright outliers: skew > 0
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        image_statistics(torch.rand(1, 1, 8, 8))


def test_router_learns_the_best_expert_from_soft_labels():
    """Three clusters of global vectors, each with one clearly best expert:
    KL(q || p) falls and the router ends up picking that expert."""
    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 2
    best = torch.arange(3).repeat_interleave(32)
    g = centres[best] + 0.3 * torch.randn(96, 16)
    mse = torch.full((96, 3), 0.02)
    mse[torch.arange(96), best] = 0.005
    q = soft_utility_labels(mse, beta=80.).float()
    router = UtilityRouter(in_dims=16, hidden_dims=32)
    loss_fn = build_loss(dict(type='SoftLabelKLLoss'))
    optim = torch.optim.AdamW(router.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = loss_fn(router(g), q)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert (router(g).argmax(-1) == best).float().mean() == 1
    # the floor of KL(q || p) is 0, reached at p = q
    assert losses[-1] >= 0 and math.isfinite(losses[-1])
