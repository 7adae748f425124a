"""GlobalLocalRestorer: crop-wise encoding equals whole-image encoding, the
decoder's receptive radius, per-task adapters (identity when added, only
the chosen task's run and learn), layer groups, and clear errors."""
import pytest
import torch
from torch import nn

from featsel.models import (GlobalLocalRestorer, RestorerCache,
                            TransformerLayer, plan_axis)
from featsel.models.restorers import ChunkedSelfAttention
from featsel.utils import ConfigError

ADAPTERS = [
    dict(type='BottleneckAdapter', ratio=1 / 16),
    dict(type='ConvLoRA', rank=4),
    dict(type='FiLM'),
]


def _model(**kwargs) -> GlobalLocalRestorer:
    torch.manual_seed(0)
    return GlobalLocalRestorer(**kwargs).eval()


def _image(h: int, w: int, batch: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, h, w,
                      generator=torch.Generator().manual_seed(seed))


def _perturb(module: nn.Module, seed: int = 2) -> None:
    """Move every parameter away from its (identity) initialisation."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))


def test_shapes_and_size():
    model = _model()
    y, g = model(_image(50, 70, batch=2))
    assert y.shape == (2, 3, 50, 70) and g.shape == (2, 64)
    assert model.token_stride == 32
    params = sum(p.numel() for p in model.parameters())
    assert 1e5 < params < 5e5  # a few 100k: trains on a CPU


@pytest.mark.parametrize('size,crop,plan', [
    (96, 256, (96, 96, 1, 0)),        # a training patch: one crop, no halo
    (100, 256, (128, 128, 1, 0)),     # padded to the token stride only
    (300, 256, (512, 256, 2, 40)),    # padded to a multiple of the crop
    (2160, 256, (2304, 256, 9, 40)),  # 4K height
])
def test_crop_plan(size, crop, plan):
    assert tuple(plan_axis(size, crop, 32, 40))[1:] == plan


def test_crops_and_crop_batches_do_not_change_the_result():
    """Masked halos make crop-wise encoding the whole-image pass."""
    x = _image(128, 192, batch=2)
    model = _model()
    with torch.no_grad():
        whole = model.encode(x)  # one 128x192 crop per image
        model.crop_size, model.crop_batch = 64, 5  # 2x3 crops, batches of 5
        crops = model.encode(x)
        y = model.decode(crops)
    assert model.plan(128, 192)[1].count == 3
    for a, b in zip(whole.feats + [whole.tokens],
                    crops.feats + [crops.tokens]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y, model.decode(whole), atol=1e-5, rtol=1e-5)


def test_halo_smaller_than_the_receptive_radius_shows_seams(monkeypatch):
    x = _image(128, 128)
    model = _model()
    with torch.no_grad():
        whole = model.encode(x)
        model.crop_size = 64
        monkeypatch.setattr(model, 'encoder_halo', lambda task=None: 8)
        short = model.encode(x)
    assert (whole.feats[-1] - short.feats[-1]).abs().max() > 1e-3


def test_crops_are_encoded_crop_batch_at_a_time():
    model = _model(crop_size=64, crop_batch=5)
    sizes = []
    model.encoder[0].register_forward_pre_hook(
        lambda m, a: sizes.append(a[0].shape[0]))
    model.encoder[0].down.register_forward_pre_hook(
        lambda m, a: sizes.append(tuple(a[0].shape[-2:])))
    with torch.no_grad():
        model.encode(_image(256, 256))  # 16 crops of 64 + 2 x 40 halo
    assert sizes == [(144, 144)] * 4


def test_encoder_halo_and_decoder_radius_match_their_formulas():
    model = _model()
    # sum_i 2^i + 2^(i+1) * 2 for i = 0, 1, 2 -> 35, rounded up to 8
    assert model.encoder_halo() == 40
    assert model.receptive_radius() == 2 * (8 + 4 + 2 + 1) + 1
    assert _model(decoder_kernel_size=1).receptive_radius() == 0


@pytest.mark.parametrize('source,index,cell', [('feats', 2, 8),
                                               ('tokens', None, 32)])
def test_decoder_reads_exactly_its_receptive_radius(source, index, cell):
    """Changing one cached cell changes the output up to ``radius`` pixels
    beyond that cell and no further."""
    model = _model()
    with torch.no_grad():
        cache = model.encode(_image(256, 256))
        base = model.decode(cache)
        target = cache.tokens if source == 'tokens' else cache.feats[index]
        cy = cx = 128 // cell
        target[:, :, cy, cx] += 10.0
        changed = (model.decode(cache) - base).abs().amax((0, 1)) > 0
    rows = changed.any(1).nonzero()[:, 0]
    radius = model.receptive_radius()
    assert rows.min() == 128 - radius
    assert rows.max() == 128 + cell - 1 + radius


def test_pointwise_decoder_reads_one_cell():
    model = _model(decoder_kernel_size=1)
    with torch.no_grad():
        cache = model.encode(_image(128, 128))
        base = model.decode(cache)
        cache.feats[2][:, :, 4, 4] += 10.0
        changed = (model.decode(cache) - base).abs().amax((0, 1)) > 0
    assert changed.nonzero().tolist() == [[i, j] for i in range(32, 40)
                                          for j in range(32, 40)]


def test_chunked_attention_equals_full_attention():
    torch.manual_seed(0)
    layer = TransformerLayer(32, 4, 2.0, query_chunk=7)
    x = torch.randn(2, 50, 32)
    chunked = layer(x)
    layer.attn.query_chunk = 1000
    torch.testing.assert_close(chunked, layer(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match='num_heads'):
        ChunkedSelfAttention(30, 4, 8)


@pytest.mark.parametrize('position', ['decoder', 'all'])
@pytest.mark.parametrize('cfg', ADAPTERS, ids=lambda c: c['type'])
def test_added_adapters_start_as_identity(cfg, position):
    model = _model(crop_size=64, adapter_position=position)
    x = _image(96, 160)
    with torch.no_grad():
        before = model(x, return_global=False)
        model.register_adapter('dehaze', cfg)
        after = model(x, return_global=False, adapter_task='dehaze')
    assert torch.equal(before, after)
    sites = ['dec3', 'dec2', 'dec1', 'dec0']
    if position == 'all':
        sites = ['enc1', 'enc2', 'enc3', 'bottleneck'] + sites
    assert list(model.adapters['dehaze'].keys()) == sites


def test_switching_tasks_runs_and_trains_only_that_tasks_adapters():
    model = _model(adapters={t: ADAPTERS[0]
                             for t in ('dehaze', 'derain', 'desnow')})
    _perturb(model.adapters['derain'])
    calls = {t: 0 for t in model.adapter_tasks}
    for task, sites in model.adapters.items():
        for adapter in sites.values():
            adapter.register_forward_hook(
                lambda m, a, o, task=task: calls.__setitem__(
                    task, calls[task] + 1))
    x = _image(64, 96)
    with torch.no_grad():
        plain = model(x, return_global=False)
        dehaze = model(x, return_global=False, adapter_task='dehaze')
    assert calls == {'dehaze': 4, 'derain': 0, 'desnow': 0}
    assert torch.equal(plain, dehaze)  # dehaze's adapters are still identity
    y, g = model(x, adapter_task='derain')
    assert calls == {'dehaze': 4, 'derain': 4, 'desnow': 0}
    assert (y - plain).abs().max() > 1e-3
    (y.square().mean() + g.square().mean()).backward()
    for task in ('dehaze', 'desnow'):
        assert all(p.grad is None
                   for p in model.adapters[task].parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.adapters['derain'].parameters())
    assert all(p.grad is not None for _, group in model.layer_groups()
               for p in group.parameters())


def test_decoder_adapters_share_one_cache():
    model = _model(adapters={t: ADAPTERS[1] for t in ('dehaze', 'derain')})
    _perturb(model.adapters)
    x = _image(64, 64)
    with torch.no_grad():
        cache = model.encode(x, 'dehaze')  # the task does not matter here
        assert cache.task is None
        for task in ('dehaze', 'derain'):
            torch.testing.assert_close(
                model.decode(cache, adapter_task=task),
                model(x, return_global=False, adapter_task=task))


def test_all_position_cache_belongs_to_its_task():
    model = _model(adapter_position='all',
                   adapters={t: ADAPTERS[2] for t in ('dehaze', 'derain')})
    _perturb(model.adapters)
    x = _image(64, 64)
    with torch.no_grad():
        cache = model.encode(x, 'dehaze')
        other = model.encode(x, 'derain')
        torch.testing.assert_close(
            model.decode(cache, adapter_task='dehaze'),
            model(x, return_global=False, adapter_task='dehaze'))
        with pytest.raises(ConfigError, match='encoded for adapter_task'):
            model.decode(cache, adapter_task='derain')
    assert (cache.global_vec - other.global_vec).abs().max() > 0


def test_all_position_halo_grows_with_adapters():
    model = _model(adapter_position='all', crop_size=64,
                   adapters=dict(dehaze=ADAPTERS[0]))
    _perturb(model.adapters)
    # the depthwise 3x3 of each encoder adapter adds 2 + 4 + 8 pixels
    assert model.encoder_halo('dehaze') == 56 > model.encoder_halo()
    x = _image(128, 128)
    with torch.no_grad():
        crops = model.encode(x, 'dehaze')
        model.crop_size = 128
        whole = model.encode(x, 'dehaze')
    torch.testing.assert_close(crops.tokens, whole.tokens, atol=1e-5,
                               rtol=1e-5)


def test_layer_groups_cover_the_backbone_from_input_to_output():
    model = _model(adapters=dict(dehaze=ADAPTERS[0]))
    groups = model.layer_groups()
    assert [name for name, _ in groups] == [
        'encoder.0', 'encoder.1', 'encoder.2', 'bottleneck', 'decoder.0',
        'decoder.1', 'decoder.2', 'decoder.3', 'head']
    grouped = [f'{name}.{p}' for name, module in groups
               for p, _ in module.named_parameters()]
    backbone = [n for n, _ in model.named_parameters()
                if not n.startswith('adapters.')]
    assert sorted(grouped) == sorted(backbone)
    # a freezing hook: the first half frozen, the rest and the adapters learn
    for _, module in groups[:4]:
        module.requires_grad_(False)
    model(_image(64, 64), adapter_task='dehaze')[0].sum().backward()
    for i, (_, module) in enumerate(groups):
        assert all((p.grad is None) == (i < 4) for p in module.parameters())
    assert model.adapters['dehaze']['dec0'].gate.grad is not None


def test_cache_holds_the_padded_image_and_maps():
    model = _model(crop_size=64)
    with torch.no_grad():
        cache = model.encode(_image(70, 100))
    assert isinstance(cache, RestorerCache)
    assert cache.size == (70, 100) and cache.padded_size == (128, 128)
    assert [tuple(f.shape) for f in cache.feats] == [
        (1, 16, 64, 64), (1, 32, 32, 32), (1, 64, 16, 16)]
    assert cache.tokens.shape == (1, 64, 4, 4)
    assert cache.nbytes == 4 * (3 * 128**2 + 16 * 64**2 + 32 * 32**2
                                + 64 * 16**2 + 64 * 16 + 64)
    torch.testing.assert_close(cache.global_vec, cache.tokens.mean((2, 3)))


def test_errors_name_the_key():
    with pytest.raises(ConfigError, match='adapter_position'):
        GlobalLocalRestorer(adapter_position='encoder')
    with pytest.raises(ConfigError, match='crop_size'):
        GlobalLocalRestorer(crop_size=100)
    with pytest.raises(ConfigError, match='decoder_kernel_size'):
        GlobalLocalRestorer(decoder_kernel_size=2)
    model = _model(adapters=dict(dehaze=ADAPTERS[2]))
    x = _image(32, 32)
    with pytest.raises(ConfigError, match='"derain" has no adapter.*dehaze'):
        model(x, adapter_task='derain')
    with pytest.raises(ConfigError, match='already registered'):
        model.register_adapter('dehaze', ADAPTERS[0])
    with pytest.raises(ConfigError, match='without "."'):
        model.register_adapter('de.haze', ADAPTERS[0])
    with pytest.raises(TypeError, match='DWConvExpert is not an adapter'):
        model.register_adapter('derain', dict(type='DWConvExpert'))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        model(x[:, :2])
    with torch.no_grad():
        cache = model.encode(_image(64, 64))
    with pytest.raises(ValueError, match='multiple of the token stride 32'):
        model.decode(cache, (0, 48, 0, 64))
