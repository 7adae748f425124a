"""MultiModalReID: shapes, modality subsets, shared or separate backbones,
branch losses and weights, gradient paths and the modality check."""
import pytest
import torch

from featsel.registry import MODELS
from featsel.utils import ConfigError
from tests.test_models.test_reid.helpers import (MODALITIES, SIZE, preprocess,
                                                 reid_batch, sdtps_cfg,
                                                 tiny_reid_cfg)


def _build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(tiny_reid_cfg(**kwargs))
    model.init_weights()
    return model


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('modalities', [('RGB', ), ('RGB', 'NI'),
                                        MODALITIES, ('TI', 'RGB')])
@pytest.mark.parametrize('with_selector', [False, True])
def test_loss_and_predict_for_any_modality_subset(modalities, with_selector):
    model = _build(modalities=modalities,
                   selector=sdtps_cfg() if with_selector else None)
    data = preprocess(model, modalities)
    assert data['inputs'].shape == (8, 3 * len(modalities), *SIZE)
    losses = model(**data, mode='loss')
    branches = ('global', 'sdtps')[:2 if with_selector else 1]
    for b in branches:
        for name in ('loss_id', 'loss_triplet'):
            assert losses[f'{b}.{name}'].dim() == 0
    assert not any(k.startswith('sdtps') for k in losses) or with_selector
    model.eval()
    with torch.no_grad():
        samples = model(**preprocess(model, modalities), mode='predict')
    m, c = len(modalities), 16
    assert samples[0].pred_feature.shape == (len(branches) * m * c, )
    if with_selector:
        grid = samples[0].token_grid
        assert tuple(grid) == (8, 4)
        selection = samples[3].token_selection
        assert list(selection) == list(modalities)
        kept = selection[modalities[0]]['kept_index']
        assert kept.shape == (16, ) and kept.max() < 32
        assert selection[modalities[0]]['scores'].shape == (32, )
        assert selection[modalities[0]]['aggr_weights'].shape == (6, 16)
    else:
        assert 'token_selection' not in samples[0]


def test_tensor_mode_gives_each_branch_feature():
    model = _build(selector=sdtps_cfg()).eval()
    inputs = preprocess(model)['inputs']
    with torch.no_grad():
        feats = model(inputs)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        'global': (8, 48), 'sdtps': (8, 48)}


def test_separate_backbones_multiply_backbone_and_projection_parameters():
    shared = _build()
    separate = _build(share_backbone=False)
    per_modality = (_params(shared.backbones[0]) +
                    _params(shared.projections[0]))
    assert len(separate.backbones) == 3 and len(shared.backbones) == 1
    assert _params(separate) == _params(shared) + 2 * per_modality
    data = preprocess(separate)
    losses = separate(**data, mode='loss')
    assert torch.isfinite(losses['global.loss_id'])


def test_shared_backbone_runs_once_over_all_modalities():
    """One batched pass over the B * M images, no loop over samples."""
    model = _build()
    calls = []
    model.backbones[0].register_forward_hook(
        lambda mod, args, out: calls.append(args[0].shape[0]))
    model(preprocess(model)['inputs'])
    assert calls == [8 * 3]


def test_a_sample_feature_does_not_depend_on_the_rest_of_the_batch():
    model = _build(selector=sdtps_cfg()).eval()
    inputs = preprocess(model)['inputs']
    with torch.no_grad():
        whole = model(inputs)
        alone = model(inputs[5:6])
    for branch in whole:
        assert torch.allclose(whole[branch][5:6], alone[branch], atol=1e-5)


def test_inference_feature_follows_test_branches_and_test_feature():
    model = _build(selector=sdtps_cfg(), test_branches=('sdtps', ),
                   test_feature='after').eval()
    data = preprocess(model)
    with torch.no_grad():
        feats = model(data['inputs'])
        samples = model(**data, mode='predict')
    expected = model.heads['sdtps'](feats['sdtps'])
    assert torch.allclose(samples[2].pred_feature, expected[2], atol=1e-6)


def test_losses_fall_on_a_tiny_run():
    model = _build(selector=sdtps_cfg())
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = preprocess(model)
    totals = []
    for _ in range(15):
        losses = model(**data, mode='loss')
        total = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        total.backward()
        optim.step()
        totals.append(float(total))
    assert totals[-1] < 0.7 * totals[0], totals


def test_branch_loss_weights_scale_their_branch_only():
    data = preprocess(_build(selector=sdtps_cfg()))
    ref = _build(selector=sdtps_cfg())(**data, mode='loss')
    weighted = _build(selector=sdtps_cfg(),
                      sdtps_loss_weight=2.5)(**data, mode='loss')
    for name in ('loss_id', 'loss_triplet'):
        assert torch.isclose(weighted[f'sdtps.{name}'],
                             2.5 * ref[f'sdtps.{name}'])
        assert torch.isclose(weighted[f'global.{name}'],
                             ref[f'global.{name}'])
    assert torch.equal(weighted['sdtps.acc'], ref['sdtps.acc'])


def _selector_grad(model, data, branch):
    model.zero_grad()
    losses = model(**data, mode='loss')
    sum(v for k, v in losses.items()
        if k.startswith(branch) and 'loss' in k).backward()
    grads = [p.grad for p in model.selectors.parameters()
             if p.requires_grad]
    return sum(float(g.abs().sum()) for g in grads if g is not None)


def test_sdtps_branch_loss_reaches_the_selectors_global_does_not():
    model = _build(selector=sdtps_cfg())
    data = preprocess(model)
    assert _selector_grad(model, data, 'sdtps') > 0
    assert _selector_grad(model, data, 'global') == 0


def test_selector_aux_losses_are_collected_per_modality():
    model = _build(selector=dict(sdtps_cfg(), decision='gumbel_token',
                                 ratio_loss_weight=1.0))
    losses = model(**preprocess(model), mode='loss')
    aux = [k for k in losses if k.startswith('selectors.')]
    assert {k.split('.')[1] for k in aux} == set(MODALITIES), losses.keys()


def test_data_with_other_modalities_is_a_config_error():
    model = _build(modalities=('RGB', 'NI'))
    inputs, samples = reid_batch(('RGB', 'TI'))
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples))
    with pytest.raises(ConfigError) as err:
        model(**data, mode='loss')
    message = str(err.value)
    assert "['RGB', 'TI']" in message and "['RGB', 'NI']" in message
    assert '\n' not in message


def test_inputs_with_the_wrong_channel_count_are_a_config_error():
    model = _build(modalities=('RGB', 'NI'))
    with pytest.raises(ConfigError, match='6 channels expected'):
        model(torch.zeros(1, 9, *SIZE))


@pytest.mark.parametrize('overrides,match', [
    (dict(modalities=('RGB', 'RGB')), 'distinct modality names'),
    (dict(sdtps_loss_weight=1.0), 'needs model.selector'),
    (dict(test_branches=('local', )), "names \\['local'\\]"),
    (dict(test_feature='neck'), 'test_feature'),
    (dict(backbone=dict(type='mmseg.VisionTransformer', img_size=SIZE,
                        patch_size=4, embed_dims=32, num_layers=1,
                        num_heads=2)), 'output_cls_token=True'),
])
def test_bad_model_settings_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        MODELS.build(tiny_reid_cfg(**overrides))


def test_preprocessor_statistics_must_match_the_modalities():
    cfg = tiny_reid_cfg(modalities=('RGB', 'NI'))
    cfg['data_preprocessor']['mean'] = [[0, 0, 0]] * 3
    cfg['data_preprocessor']['std'] = [[1, 1, 1]] * 3
    with pytest.raises(ConfigError, match="3 modalities .* lists 2"):
        MODELS.build(cfg)
