"""RT-DETR on mmdet's parts, with the DSET mechanisms switched on/off."""
import pytest
import torch
import torch.nn.functional as F

from featsel.models.layers import MoEFFN
from tests.test_models.det_helpers import (DSET_CONFIGS, build_detector,
                                           det_samples, tiny_detector_cfg)

# the plug-ins' losses, namespaced by their path in the model; a stack of
# layers shares one key (the mean over its layers)
ENC_BAL = 'neck.encoders.ffn.loss_balance'
DEC_BAL = 'decoder.layers.ffn.loss_balance'
ENC_PRUNE = 'neck.pruner.loss_prune'
PLUGIN_LOSSES = {
    'rtdetr_r18': set(),
    'rtdetr_r18_moe': {ENC_BAL, DEC_BAL},
    'rtdetr_r18_prune': {ENC_PRUNE},
    'dset_r18': {ENC_BAL, DEC_BAL, ENC_PRUNE},
    'rtdetr_r50': set(),
    'dset_r50': {ENC_BAL, DEC_BAL, ENC_PRUNE},
}


def _loss(model, num_boxes, **kwargs):
    model.train()
    inputs = torch.randn(len(num_boxes), 3, 64, 64)
    losses = model.loss(inputs, det_samples(num_boxes, **kwargs))
    total = sum(v for k, v in losses.items() if 'loss' in k)
    return losses, total


@pytest.fixture(scope='module')
def dset_r18():
    return build_detector(tiny_detector_cfg('dset_r18'))


@pytest.mark.parametrize('name', DSET_CONFIGS)
def test_each_config_switches_its_mechanisms(name):
    model = build_detector(tiny_detector_cfg(name))
    losses, total = _loss(model, [2, 1])
    plugin = {k for k in losses
              if k in (ENC_BAL, DEC_BAL, ENC_PRUNE)}
    assert plugin == PLUGIN_LOSSES[name]
    assert torch.isfinite(total)
    moe = [m for m in model.modules() if isinstance(m, MoEFFN)]
    assert bool(moe) == ('moe' in name or name.startswith('dset'))
    assert (model.neck.pruner is not None) == ('prune' in name or
                                               name.startswith('dset'))


def test_dset_r18_sets_spec_values(dset_r18):
    enc = dset_r18.neck.encoders[0][0].ffn
    dec = [layer.ffn for layer in dset_r18.decoder.layers]
    assert (enc.num_experts, enc.top_k) == (2, 1)
    assert all((d.num_experts, d.top_k) == (3, 2) for d in dec)
    assert dset_r18.neck.pruner.keep_ratio == 0.6
    # balance losses are weighted as SPEC S4: 0.1 top-1, 0.05 otherwise
    assert enc.balance_loss_weight == 0.1
    assert dec[0].balance_loss_weight == 0.05


def test_plugin_losses_are_layer_means(dset_r18):
    losses, _ = _loss(dset_r18, [2, 2])
    dec = [layer.ffn.aux_losses()['loss_balance']
           for layer in dset_r18.decoder.layers]
    torch.testing.assert_close(losses[DEC_BAL],
                               torch.stack(dec).mean())
    # weight 0.05 times a balance of about 1: this seeded batch routes
    # close to uniformly (E * sum f_i P_i is not >= 1 for every routing)
    assert losses[DEC_BAL].item() >= 0.05 - 1e-6


@pytest.mark.parametrize('num_boxes', [[0, 3], [0, 0]])
def test_images_and_batches_without_boxes(dset_r18, num_boxes):
    dset_r18.zero_grad()
    losses, total = _loss(dset_r18, num_boxes)
    assert all(torch.isfinite(v).all() for v in losses.values())
    total.backward()
    # the label embedding stays in the graph even with no denoising query,
    # so distributed training does not wait for its gradient forever
    grad = dset_r18.dn_query_generator.label_embedding.weight.grad
    assert grad is not None
    backbone_grad = next(dset_r18.backbone.parameters()).grad
    assert backbone_grad is not None and torch.isfinite(backbone_grad).all()


def test_predict_boxes_and_padded_batch(dset_r18):
    dset_r18.eval()
    samples = det_samples([1, 1], img_shapes=[(64, 64), (48, 40)])
    with torch.no_grad():
        results = dset_r18.predict(torch.randn(2, 3, 64, 64), samples)
    for result, (h, w) in zip(results, [(64, 64), (48, 40)]):
        pred = result.pred_instances
        assert pred.bboxes.shape == (20, 4)
        assert (pred.scores[:-1] >= pred.scores[1:]).all()
        assert pred.bboxes[:, 0::2].max() <= w + 1e-3
        assert pred.bboxes[:, 1::2].max() <= h + 1e-3


def test_too_many_queries_for_the_input_is_named():
    model = build_detector(tiny_detector_cfg('rtdetr_r18', num_queries=90))
    model.eval()
    with pytest.raises(ValueError, match=r'num_queries \(90\) exceeds the '
                       r'84 memory tokens'):
        model.predict(torch.randn(1, 3, 64, 64), det_samples([0]))


def test_encoder_argument_is_rejected():
    cfg = tiny_detector_cfg('rtdetr_r18')
    cfg.encoder = dict(num_layers=1)
    with pytest.raises(ValueError, match='`encoder`'):
        build_detector(cfg)


def test_iou_varifocal_loss_matches_rtdetr_formula():
    from featsel.models.detectors.rtdetr.varifocal_iou_loss import \
        IoUVarifocalLoss
    torch.manual_seed(0)
    logits = torch.randn(7, 4)
    labels = torch.tensor([0, 3, 4, 4, 1, 4, 2])  # 4 = background
    iou = torch.tensor([0.9, 0.3, 0., 0., 0.6, 0., 0.75])
    loss = IoUVarifocalLoss(alpha=0.75, gamma=2.0)(
        logits, (labels, iou), torch.ones(7), avg_factor=4)
    onehot = F.one_hot(labels, 5)[:, :4].float()
    target = onehot * iou[:, None]
    p = logits.sigmoid()
    weight = 0.75 * p.pow(2) * (1 - onehot) + target
    expected = (F.binary_cross_entropy_with_logits(
        logits, target, reduction='none') * weight).sum() / 4
    torch.testing.assert_close(loss, expected)


def test_loss_falls_on_a_repeated_batch():
    model = build_detector(tiny_detector_cfg('rtdetr_r18'))
    model.train()
    torch.manual_seed(0)
    inputs = torch.randn(2, 3, 64, 64)
    samples = det_samples([2, 1])
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    history = []
    for _ in range(20):
        torch.manual_seed(1)  # the same denoising noise every step
        losses = model.loss(inputs, samples)
        total = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        total.backward()
        optim.step()
        history.append(total.item())
    assert sum(history[-3:]) / 3 < 0.7 * sum(history[:3]) / 3, history


def test_decoder_moe_statistics_exclude_denoising_queries(dset_r18):
    """A training forward with boxes (so with denoising queries) and one
    without boxes (none) give the decoder MoE the same matching queries;
    its load and balance loss must be the same."""
    stats = []
    for num_boxes in ([3, 2], [0, 0]):
        torch.manual_seed(0)
        _loss(dset_r18, num_boxes)
        stats.append([(layer.ffn.last_expert_load.clone(),
                       layer.ffn.last_balance_loss.detach().clone())
                      for layer in dset_r18.decoder.layers])
    with_dn, without_dn = stats
    for (load_a, loss_a), (load_b, loss_b) in zip(with_dn, without_dn):
        torch.testing.assert_close(load_a, load_b)
        torch.testing.assert_close(loss_a, loss_b)
