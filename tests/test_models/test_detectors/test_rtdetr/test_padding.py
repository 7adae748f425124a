"""Padding of a batch changes nothing an image gets: the encoder
transformer masks pad tokens, the pruner never keeps them (K counts valid
tokens), pad tokens are never queries, and the decoder embeds query
positions in image coordinates.

The convolutions of the backbone and of the fusion path see the padded
border as real zeros and spill a little into the image's last cells, as in
every DETR with batch padding; these tests therefore give both runs the same
valid features and fill the padding with garbage, and compare everything
the padding mask controls."""
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.detectors import DINO
from mmdet.structures import DetDataSample

from featsel.models.layers import MoEFFN
from tests.test_models.det_helpers import build_detector, tiny_detector_cfg

# 64x96 image alone and padded to 128x128 (the example)
IMAGE, PADDED = (64, 96), (128, 128)
STRIDES = (8, 16, 32)


def _sample(img_shape, batch_shape):
    return DetDataSample(metainfo=dict(
        img_shape=img_shape, ori_shape=img_shape, scale_factor=(1., 1.),
        batch_input_shape=batch_shape, pad_shape=batch_shape))


def _pad_with_garbage(x, size, seed):
    """``x (B, C, h, w)`` at the top-left of a ``size`` map whose other
    cells hold large random values."""
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(*x.shape[:2], *size, generator=g) * 50
    out[..., :x.shape[-2], :x.shape[-1]] = x
    return out


def _levels(batch_shape, channels, seed):
    g = torch.Generator().manual_seed(seed)
    h, w = batch_shape
    return [torch.randn(1, c, h // s, w // s, generator=g)
            for c, s in zip(channels, STRIDES)]


def _moe_load(model):
    return [m.last_expert_load.clone() for m in model.modules()
            if isinstance(m, MoEFFN)]


@pytest.fixture(scope='module')
def dset_r18():
    cfg = tiny_detector_cfg('dset_r18')
    cfg.neck.pruner.type = 'SpatialPriorTokenPruner'
    cfg.neck.pruner.prior_size = (5, 5)
    model = build_detector(cfg)
    with torch.no_grad():  # a prior that matters
        model.neck.pruner.prior.normal_(0, 2.0, generator=torch.Generator(
        ).manual_seed(3))
    return model.eval()


@pytest.mark.parametrize('keep_ratio', [1.0, 0.6])
def test_encoder_transformer_ignores_padding(dset_r18, keep_ratio):
    neck = dset_r18.neck
    neck.pruner.keep_ratio_now.fill_(keep_ratio)
    torch.manual_seed(0)
    alone = torch.randn(1, 256, *[s // 32 for s in IMAGE])
    padded = _pad_with_garbage(alone, [s // 32 for s in PADDED], seed=1)
    mask = torch.ones(1, *[s // 32 for s in PADDED], dtype=torch.bool)
    mask[:, :alone.shape[-2], :alone.shape[-1]] = False
    layers = neck.encoders[0]
    with torch.no_grad():
        out_alone = neck.encode_level(alone, layers)
        kept_alone = neck.pruner._last[1].shape[1]
        load_alone = _moe_load(neck)
        out_padded = neck.encode_level(padded, layers, mask)
        slots = neck.pruner._last[4]
        load_padded = _moe_load(neck)
    h, w = alone.shape[-2:]
    torch.testing.assert_close(out_padded[..., :h, :w], out_alone,
                               atol=1e-4, rtol=1e-4)
    # pad tokens keep their input: the transformer never wrote to them
    torch.testing.assert_close(out_padded[..., h:, :], padded[..., h:, :])
    torch.testing.assert_close(out_padded[..., :, w:], padded[..., :, w:])
    # K counted over the 2x3 = 6 valid tokens: round(0.6 * 6) = 4, not
    # round(0.6 * 16) = 10
    assert kept_alone == (6 if keep_ratio == 1 else 4)
    kept_padded = slots.numel() - int(slots.sum()) if slots is not None \
        else neck.pruner._last[1].shape[1]
    assert kept_padded == kept_alone
    for a, b in zip(load_alone, load_padded):
        torch.testing.assert_close(a, b)
    neck.pruner.keep_ratio_now.fill_(neck.pruner.keep_ratio)


def test_mixed_batch_equals_each_image_alone(dset_r18):
    """A batch of a 64x96 (padded) and a 128x128 image: each image's
    encoder tokens equal those of the image run alone."""
    neck = dset_r18.neck
    torch.manual_seed(0)
    small = torch.randn(1, 256, 2, 3)
    large = torch.randn(1, 256, 4, 4)
    batch = torch.cat([_pad_with_garbage(small, (4, 4), seed=2), large])
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0] = True
    mask[0, :2, :3] = False
    layers = neck.encoders[0]
    with torch.no_grad():
        out = neck.encode_level(batch, layers, mask)
        torch.testing.assert_close(out[:1, :, :2, :3],
                                   neck.encode_level(small, layers),
                                   atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out[1:], neck.encode_level(large, layers),
                                   atol=1e-4, rtol=1e-4)


def test_padded_and_unpadded_predictions_agree(dset_r18):
    """Same valid memory, garbage padding: the predicted boxes (in image
    pixels), scores and labels are those of the image alone."""
    feats = _levels(IMAGE, [256] * 3, seed=4)
    padded = [_pad_with_garbage(f, (PADDED[0] // s, PADDED[1] // s), seed=5)
              for f, s in zip(feats, STRIDES)]
    results = []
    for levels, batch_shape in ((feats, IMAGE), (padded, PADDED)):
        samples = [_sample(IMAGE, batch_shape)]
        with torch.no_grad():
            head_inputs = DINO.forward_transformer(dset_r18, levels, samples)
            results.append(dset_r18.bbox_head.predict(
                **head_inputs, rescale=True, batch_data_samples=samples)[0])
    alone, padded_result = results
    torch.testing.assert_close(padded_result.bboxes, alone.bboxes,
                               atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(padded_result.scores, alone.scores,
                               atol=1e-5, rtol=1e-4)
    assert torch.equal(padded_result.labels, alone.labels)
    assert alone.bboxes[:, 0::2].max() <= IMAGE[1] + 1e-3


def test_full_model_never_keeps_pad_tokens(dset_r18):
    """The full model on a padded image: the pruner keeps the image's own
    K of its valid tokens and no pad token."""
    torch.manual_seed(0)
    img = torch.randn(1, 3, *IMAGE)
    padded = F.pad(img, (0, PADDED[1] - IMAGE[1], 0, PADDED[0] - IMAGE[0]))
    calls = []
    handle = dset_r18.neck.pruner.register_forward_hook(
        lambda module, args, kwargs, out: calls.append((kwargs, out)),
        with_kwargs=True)
    try:
        with torch.no_grad():
            dset_r18.predict(padded, [_sample(IMAGE, PADDED)])
    finally:
        handle.remove()
    (kwargs, kept), = calls
    token_mask = kwargs['padding_mask'][0]
    assert int((~token_mask).sum()) == 6  # 2x3 valid of 4x4 at stride 32
    chosen = kept.index[0][~kept.padding_mask[0]]
    assert len(chosen) == 4  # round(0.6 * 6), not round(0.6 * 16) = 10
    assert not token_mask[chosen].any()
