"""TaskAdaptedRestorer: task recipes on mixed batches (values against hand
computation, one backbone call per adapter group), predictions, experts
that start as the dense model, gradients that reach only the sample's
task's adapters, a falling loss, the data preprocessor, and clear errors."""
import copy
import logging

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement, PixelData

from featsel.models import TaskAdaptedRestorer
from featsel.models.restorers import RestorationDataPreprocessor
from featsel.models.restorers.restorer import group_indices
from featsel.utils import ConfigError, DataError

TASKS = ('dehaze', 'derain', 'desnow')
BACKBONE = dict(type='GlobalLocalRestorer', embed_dims=(4, 8), token_dims=8,
                token_pool=2, num_layers=1, num_heads=2, crop_size=32)
ADAPTER = dict(type='BottleneckAdapter', ratio=1 / 4, min_hidden_channels=2)


def _l1(weight: float = 1.0, name: str = 'loss_l1') -> dict:
    return dict(type='PixelL1Loss', loss_weight=weight, loss_name=name)


def _model(adapter_tasks=None, losses=None, **kwargs) -> TaskAdaptedRestorer:
    torch.manual_seed(0)
    losses = losses or {t: [_l1(w)] for t, w in zip(TASKS, (1., 2., 3.))}
    return TaskAdaptedRestorer(
        backbone=dict(BACKBONE), losses=losses,
        adapter=ADAPTER if adapter_tasks else None,
        adapter_tasks=adapter_tasks, **kwargs)


def _batch(tasks, size: int = 16, seed: int = 0):
    """Preprocessed inputs (B, 3, size, size) and samples with gt_img."""
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.rand(len(tasks), 3, size, size, generator=gen)
    samples = []
    for task in tasks:
        sample = BaseDataElement(metainfo=dict(task=task))
        sample.gt_img = torch.rand(3, size, size, generator=gen)
        samples.append(sample)
    return inputs, samples


def _count_calls(model: TaskAdaptedRestorer) -> list:
    calls = []
    model.backbone.register_forward_hook(
        lambda m, args, kwargs, out: calls.append(
            (args[0].shape[0], kwargs.get('adapter_task'))),
        with_kwargs=True)
    return calls


def _perturb_adapters(model: TaskAdaptedRestorer) -> None:
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.backbone.adapters.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))


def test_group_indices_keeps_first_appearance_order():
    assert group_indices(['b', 'a', 'b', None]) == {
        'b': [0, 2], 'a': [1], None: [3]}


def test_dense_loss_on_a_mixed_batch_is_the_weighted_task_recipes():
    model = _model()
    tasks = ['derain', 'dehaze', 'derain', 'desnow']
    inputs, samples = _batch(tasks)
    calls = _count_calls(model)
    losses = model.loss(inputs, samples)
    # dense: every task uses no adapter, so one backbone call for the batch
    assert calls == [(4, None)]
    pred = model.backbone(inputs, return_global=False)
    target = torch.stack([s.gt_img for s in samples])
    weights = dict(dehaze=1., derain=2., desnow=3.)
    assert set(losses) == {f'{t}.loss_l1' for t in TASKS}
    for task in TASKS:
        rows = [i for i, t in enumerate(tasks) if t == task]
        expected = len(rows) / 4 * weights[task] * F.l1_loss(
            pred[rows], target[rows])
        torch.testing.assert_close(losses[f'{task}.loss_l1'], expected)


def test_expert_runs_one_backbone_call_per_adapter_group():
    model = _model(adapter_tasks=['dehaze', 'derain'])
    _perturb_adapters(model)
    tasks = ['desnow', 'dehaze', 'derain', 'dehaze', 'desnow']
    inputs, samples = _batch(tasks)
    calls = _count_calls(model)
    losses = model.loss(inputs, samples)
    assert sorted(calls, key=str) == sorted(
        [(2, None), (2, 'dehaze'), (1, 'derain')], key=str)
    rows = [1, 3]
    pred = model.backbone(inputs[rows], return_global=False,
                          adapter_task='dehaze')
    target = torch.stack([samples[i].gt_img for i in rows])
    torch.testing.assert_close(losses['dehaze.loss_l1'],
                               2 / 5 * F.l1_loss(pred, target))


def test_recipe_terms_get_the_degraded_input():
    losses = {'derain': [_l1(), dict(type='RainDirectionLoss',
                                     loss_weight=0.02)]}
    model = _model(losses=losses)
    inputs, samples = _batch(['derain', 'derain'], size=32)
    out = model.loss(inputs, samples)
    assert set(out) == {'derain.loss_l1', 'derain.loss_rain_direction'}
    pred = model.backbone(inputs, return_global=False)
    target = torch.stack([s.gt_img for s in samples])
    term = model.losses['derain'][1]
    torch.testing.assert_close(out['derain.loss_rain_direction'],
                               term(pred, target, inputs))


def test_added_adapters_start_as_the_dense_model():
    dense, expert = _model(), _model(adapter_tasks=list(TASKS))
    missing, unexpected = expert.load_state_dict(dense.state_dict(),
                                                 strict=False)
    assert not unexpected and all('.adapters.' in k for k in missing)
    inputs, samples = _batch(TASKS)
    a = dense.predict(inputs, copy.deepcopy(samples))
    b = expert.predict(inputs, copy.deepcopy(samples))
    # the expert runs one group per task, the dense model one batch: only
    # float rounding of the batched convolutions differs
    for x, y in zip(a, b):
        torch.testing.assert_close(x.pred_img, y.pred_img, rtol=0,
                                   atol=1e-6)


def test_only_the_adapters_of_the_batchs_tasks_get_gradients():
    model = _model(adapter_tasks=list(TASKS))
    _perturb_adapters(model)
    inputs, samples = _batch(['derain', 'derain'])
    sum(model.loss(inputs, samples).values()).backward()
    for task, adapters in model.backbone.adapters.items():
        grads = [p.grad for p in adapters.parameters()]
        if task == 'derain':
            assert all(g is not None and g.abs().sum() > 0 for g in grads)
        else:
            assert all(g is None for g in grads), task


def test_predict_sets_pred_and_input_and_groups_sizes():
    model = _model(adapter_tasks=['dehaze']).eval()
    _perturb_adapters(model)
    images = [torch.rand(3, 16, 24), torch.rand(3, 20, 16),
              torch.rand(3, 16, 24)]
    samples = [BaseDataElement(metainfo=dict(task=t))
               for t in ('dehaze', 'dehaze', 'derain')]
    calls = _count_calls(model)
    with torch.no_grad():
        out = model.predict(images, samples)
    assert len(calls) == 3  # (dehaze, 16x24), (dehaze, 20x16), (None, ...)
    for sample, image in zip(out, images):
        assert sample.pred_img.shape == image.shape
        assert sample.lq_img is image
    with torch.no_grad():
        alone = model.backbone(images[0][None], return_global=False,
                               adapter_task='dehaze')[0]
    torch.testing.assert_close(out[0].pred_img, alone)
    # without samples: no task, no adapter
    with torch.no_grad():
        bare = model.predict(torch.stack([images[0], images[2]]))
    torch.testing.assert_close(bare[1].pred_img, out[2].pred_img)


def test_tiled_predict_matches_whole_image_predict():
    """Exact tiles (context None) equal the whole-image pass; a tile as
    large as the image is the whole-image pass too."""
    whole = _model(adapter_tasks=['dehaze']).eval()
    _perturb_adapters(whole)
    inputs, samples = _batch(['dehaze', 'derain'], size=48)
    with torch.no_grad():
        ref = whole.predict(inputs, copy.deepcopy(samples))
    for test_cfg in (dict(tile=16, overlap=8, blend='hann', context=None),
                     dict(tile=64, overlap=8, blend='hann')):
        tiled = _model(adapter_tasks=['dehaze'], test_cfg=test_cfg).eval()
        tiled.load_state_dict(whole.state_dict())
        with torch.no_grad():
            out = tiled.predict(inputs, copy.deepcopy(samples))
        for a, b in zip(ref, out):
            torch.testing.assert_close(a.pred_img, b.pred_img, rtol=1e-5,
                                       atol=1e-5)


def test_train_step_lowers_the_loss():
    model = _model(adapter_tasks=['desnow'])
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=3e-3))
    gen = torch.Generator().manual_seed(5)
    clean = [torch.randint(256, (3, 16, 16), generator=gen,
                           dtype=torch.uint8) for _ in range(4)]
    samples = []
    for task, gt in zip(['dehaze', 'desnow', 'desnow', 'derain'], clean):
        sample = BaseDataElement(metainfo=dict(task=task))
        sample.gt_img = gt
        samples.append(sample)
    hazy = [(gt.float() * 0.5 + 100).to(torch.uint8) for gt in clean]
    data = dict(inputs=hazy, data_samples=samples)
    losses = [model.train_step(copy.deepcopy(data), optim)['loss'].item()
              for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_model_with_every_recipe_term_deep_copies_for_ema():
    # EMAHook deep-copies the model; every loss term must survive the copy
    from mmengine.model import ExponentialMovingAverage
    model = _model(losses={
        'derain': [dict(type='CharbonnierLoss'), dict(type='SSIMLoss'),
                   dict(type='SobelEdgeLoss'),
                   dict(type='RainDirectionLoss')],
        'desnow': [dict(type='SnowMaskWeightedLoss')]})
    ema = ExponentialMovingAverage(model)
    twin = ema.module
    assert twin.losses is not model.losses
    assert not any('losses' in k for k in model.state_dict())
    gen = torch.Generator().manual_seed(2)
    pred, gt, lq = torch.rand(3, 2, 3, 24, 24, generator=gen)
    for task in ('derain', 'desnow'):
        for ours, theirs in zip(model.losses[task], twin.losses[task]):
            assert torch.equal(ours(pred, gt, lq), theirs(pred, gt, lq))


def test_task_names_with_a_dot_are_refused():
    with pytest.raises(ConfigError, match='bad task names'):
        _model(losses={'de.rain': [dict(type='CharbonnierLoss')]})


def test_parameter_counts_match_the_adapter_formula():
    model = _model(adapter_tasks=['dehaze'])
    counts = model.parameter_counts()
    # decoder sites of (4, 8) levels: dec2 8 ch, dec1 4 ch, dec0 4 ch; the
    # width m = min(C, max(2, round(C / 4))); 2Cm + 10m + 2C per site
    expected = 0
    for c in (8, 4, 4):
        m = min(c, max(2, round(c / 4)))
        expected += 2 * c * m + 10 * m + 2 * c
    assert counts['dehaze'] == expected
    total = sum(p.numel() for p in model.parameters())
    assert counts['backbone'] == total - expected


def test_optional_loss_without_weights_is_left_out_with_one_message(
        tmp_path):
    lpips = dict(type='LPIPSLoss', loss_weight=0.05,
                 alexnet_path=str(tmp_path / 'alexnet.pth'),
                 lin_path=str(tmp_path / 'lin.pth'))
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        model = _model(losses={'desnow': [_l1(), dict(lpips, optional=True)]})
    finally:
        logger.removeHandler(handler)
    assert [type(t).__name__ for t in model.losses['desnow']] == [
        'PixelL1Loss']
    messages = [r.getMessage() for r in records
                if r.levelno >= logging.WARNING]
    assert len(messages) == 1 and 'alexnet.pth' in messages[0]
    with pytest.raises(FileNotFoundError, match='alexnet.pth'):
        _model(losses={'desnow': [lpips]})


def test_preprocessor_scales_inputs_and_targets():
    pre = RestorationDataPreprocessor()
    image = torch.tensor([0, 51, 255], dtype=torch.uint8).view(3, 1, 1)
    sample = BaseDataElement()
    sample.gt_img = PixelData(data=image.clone())
    out = pre(dict(inputs=[image], data_samples=[sample]), training=True)
    torch.testing.assert_close(out['inputs'],
                               torch.tensor([0., .2, 1.]).view(1, 3, 1, 1))
    torch.testing.assert_close(out['data_samples'][0].gt_img,
                               torch.tensor([0., .2, 1.]).view(3, 1, 1))
    mixed = [torch.zeros(3, 4, 4, dtype=torch.uint8),
             torch.zeros(3, 4, 6, dtype=torch.uint8)]
    assert isinstance(pre(dict(inputs=mixed))['inputs'], list)
    with pytest.raises(DataError, match='differ in size'):
        pre(dict(inputs=mixed), training=True)


@pytest.mark.parametrize('kwargs,match', [
    (dict(adapter_tasks=['deblur']), 'adapter_tasks'),
    (dict(test_cfg=dict(tile=64, stride=8)), 'test_cfg has unknown keys'),
    (dict(losses={'dehaze': []}), 'model.losses.dehaze is empty'),
    (dict(losses={'dehaze': [_l1(), _l1(2.)]}), 'loss_name twice'),
    (dict(losses={'dehaze': [dict(type='GateBalanceLoss')]}),
     'not a restoration loss'),
])
def test_bad_configs_name_the_key(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _model(**kwargs)


def test_bad_samples_name_the_problem():
    model = _model(losses={'dehaze': [_l1()]})
    inputs, samples = _batch(['dehaze', 'derain'])
    with pytest.raises(ConfigError, match='task "derain" has no loss recipe'):
        model.loss(inputs, samples)
    inputs, samples = _batch(['dehaze'])
    samples[0].set_metainfo(dict(task=None))
    with pytest.raises(DataError, match='no "task"'):
        model.loss(inputs, samples)
