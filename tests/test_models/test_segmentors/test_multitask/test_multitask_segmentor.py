import pytest
import torch

from featsel.registry import MODELS
from featsel.utils import ConfigError
from tests.test_models.helpers import (synthetic_batch, tiny_segmentor_cfg,
                                       train_tiny)

PATCHGATE = dict(
    type='PatchGateDecoder',
    channels=4,
    gate_losses=[
        dict(type='GateSharpnessLoss', loss_weight=0.1),
        dict(type='ScaleSmoothnessLoss', loss_weight=0.1)
    ])


@pytest.mark.parametrize('decoder', [None, PATCHGATE])
def test_loss_keys_and_predict_fields(decoder):
    torch.manual_seed(0)
    model = MODELS.build(tiny_segmentor_cfg(decoder))
    inputs, samples = synthetic_batch()
    losses = model(inputs, samples, mode='loss')
    for task in ('seg', 'sdf', 'bnd'):
        assert losses[f'loss_{task}'].requires_grad
        assert f'raw_{task}' in losses and f'sigma_{task}' in losses
    if decoder:
        assert {'decoder.loss_gate_sharpness',
                'decoder.loss_scale_smoothness'} <= set(losses)
    model.eval()
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
    s = out[0]
    assert s.pred_seg.data.shape == (1, 16, 16)
    assert set(s.pred_seg.data.unique().tolist()) <= {0, 1}
    assert s.pred_sdf.data.abs().max() <= 1
    assert 'prob_seg' in s and 'prob_bnd' in s and 'prob_sdf' not in s


def test_task_list_comes_from_config():
    cfg = tiny_segmentor_cfg()
    cfg['tasks'] = dict(lesion=cfg['tasks']['seg'])
    model = MODELS.build(cfg)
    assert list(model.heads) == ['lesion']
    assert list(model.decoder.decoders) == ['lesion']
    out = model(torch.randn(1, 3, 16, 16), mode='tensor')
    assert list(out) == ['lesion']


@pytest.mark.parametrize('decoder', [None, PATCHGATE])
def test_losses_fall_on_a_tiny_run(decoder):
    torch.manual_seed(0)
    model = MODELS.build(tiny_segmentor_cfg(decoder))
    raw, _ = train_tiny(model, steps=40)
    assert raw[-1] < 0.6 * raw[0]


def test_uncertainty_weights_receive_gradient():
    model = MODELS.build(tiny_segmentor_cfg())
    inputs, samples = synthetic_batch()
    losses = model(inputs, samples, mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss_')).backward()
    for task in ('seg', 'sdf', 'bnd'):
        assert model.loss_weighting.log_vars[task].grad is not None


def test_predict_restores_original_size():
    model = MODELS.build(tiny_segmentor_cfg()).eval()
    inputs, samples = synthetic_batch(batch_size=1)
    samples[0].set_metainfo(dict(img_shape=(12, 14), ori_shape=(24, 28)))
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
    assert out[0].pred_sdf.data.shape == (1, 24, 28)


def test_decoder_channels_must_match_encoder():
    cfg = tiny_segmentor_cfg(dict(type='PerTaskUNetDecoder',
                                  in_channels=[4, 8, 32]))
    with pytest.raises(ConfigError, match=r'model.decoder.in_channels'):
        MODELS.build(cfg)


def test_missing_task_target_names_the_task():
    model = MODELS.build(tiny_segmentor_cfg())
    inputs, samples = synthetic_batch()
    for s in samples:
        del s.gt_bnd
    with pytest.raises(ConfigError,
                       match=r'"bnd".*gt_bnd.*\[.sdf., .seg.\]'):
        model(inputs, samples, mode='loss')


@pytest.mark.parametrize('tasks, match', [
    (dict(seg=dict(kind='maks', loss=dict(type='mmdet.L1Loss'))),
     r'model.tasks.seg.kind'),
    (dict(seg=dict(kind='mask', loss=dict(type='mmdet.L1Loss'), weight=1)),
     r'model.tasks.seg has unknown keys \[.weight.\]'),
    (dict(seg=dict(kind='mask')), r'model.tasks.seg.loss is missing'),
    ({}, r'model.tasks is empty'),
])
def test_bad_task_config(tasks, match):
    with pytest.raises(ConfigError, match=match):
        MODELS.build(tiny_segmentor_cfg(tasks=tasks))


def test_unknown_component_type_names_it():
    cfg = tiny_segmentor_cfg(selector=dict(type='NoSuchSelector'))
    with pytest.raises(KeyError, match='NoSuchSelector'):
        MODELS.build(cfg)


def test_input_size_must_fit_the_encoder():
    model = MODELS.build(tiny_segmentor_cfg())
    with pytest.raises(ConfigError, match='pad_size_divisor'):
        model(torch.randn(1, 3, 18, 18), mode='tensor')


def test_padded_targets_are_background():
    """Images smaller than the batch are padded; the pad is background and,
    for the SDF, far outside (+1), never a contour (0)."""
    model = MODELS.build(tiny_segmentor_cfg())
    _, samples = synthetic_batch(batch_size=1, size=8)
    sdf = model._stack_targets(samples, 'sdf', (1, 3, 16, 16),
                               model.tasks['sdf'].pad_value)
    seg = model._stack_targets(samples, 'seg', (1, 3, 16, 16),
                               model.tasks['seg'].pad_value)
    assert sdf.shape == (1, 1, 16, 16)
    assert (sdf[..., 8:, :] == 1).all() and (sdf[..., :, 8:] == 1).all()
    assert (seg[..., 8:, :] == 0).all()
