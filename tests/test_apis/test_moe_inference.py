"""MoE-I inference on a toy with known best experts: dense, actual (with
abstention), oracle, top-2, forced and local-router modes against the
tiled restore of each model; one global pass per image (backbone calls
counted, the router reads the cached vector); a model whose encoder differs
runs its own pass; bad calls name what is wrong."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from featsel.apis import restore_tensor, tile_regions
from featsel.apis.moe_inference import (DENSE_NAME, CalibratedRouter,
                                        MoEIRestorer, global_pass_difference)
from featsel.evaluation.routing import DENSE, top2_weights
from featsel.models import GlobalLocalRestorer
from featsel.models.routers import UtilityRouter
from featsel.utils import ConfigError, DataError

EXPERTS = ('dehaze', 'derain', 'desnow')
TILING = dict(tile=32, overlap=16, blend='hann', context=0)


def _dense() -> GlobalLocalRestorer:
    torch.manual_seed(0)
    return GlobalLocalRestorer(embed_dims=(4, 8), token_dims=8,
                               token_pool=2, num_layers=1, num_heads=2,
                               crop_size=32).eval()


def _experts(dense: GlobalLocalRestorer) -> dict:
    """Copies of the dense backbone with one task's adapter (identity at
    start) and a decoder of their own: the head's bias moved by a constant
    per expert, so every expert restores differently from one shared
    encoder and bottleneck."""
    experts = {}
    for k, name in enumerate(EXPERTS):
        expert = copy.deepcopy(dense)
        expert.register_adapter(name, dict(type='FiLM'))
        with torch.no_grad():
            expert.head.bias += 0.05 * (k + 1)
        experts[name] = expert.eval()
    return experts


def _router(bias, tau: float = 0.0) -> CalibratedRouter:
    """A router that gives the logits ``bias`` to every image."""
    router = UtilityRouter(num_experts=3, in_dims=8, num_layers=0).eval()
    with torch.no_grad():
        router.mlp[-1].weight.zero_()
        router.mlp[-1].bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return CalibratedRouter(router, EXPERTS, temperature=1.0, tau=tau)


def _image(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 6, 8, generator=g)
    return nn.functional.interpolate(coarse, size=(40, 56), mode='bilinear')


def _expected(backbone: GlobalLocalRestorer, x: torch.Tensor,
              task) -> torch.Tensor:
    return restore_tensor(backbone, x, task, **TILING)


@pytest.fixture
def toy():
    dense = _dense()
    experts = _experts(dense)
    moe = MoEIRestorer(dense, experts, router=_router([2., 0., 0.]),
                       **TILING)
    return moe, dense, experts


def test_dense_mode_is_the_dense_model_tiled(toy):
    moe, dense, _ = toy
    x = _image()
    out = moe(x, 'dense')
    assert out.route == DENSE_NAME and out.route_index == DENSE
    assert out.probs is None and out.routing_overhead is None
    torch.testing.assert_close(out.image, _expected(dense, x, None),
                               rtol=0, atol=0)
    assert out.decoded == [DENSE_NAME] and out.encoder_passes == 1
    assert set(out.timing) == {'encode_ms', 'route_ms', 'decode_ms',
                               'total_ms'}
    assert out.ms_per_mp == pytest.approx(
        out.timing['total_ms'] / (40 * 56 / 1e6))


def test_actual_routes_to_the_argmax_unless_unsure(toy):
    moe, dense, experts = toy
    x = _image()
    p = torch.tensor([2., 0., 0.]).softmax(0)
    out = moe(x, 'moe_actual')
    assert out.route == 'dehaze' and out.route_index == 0
    assert not out.abstained
    np.testing.assert_allclose(out.probs, p.numpy(), rtol=1e-6)
    assert out.p_max == pytest.approx(float(p.max()))
    torch.testing.assert_close(out.image,
                               _expected(experts['dehaze'], x, 'dehaze'),
                               rtol=0, atol=0)
    # tau above max p = 0.787: the dense model restores the image
    moe.router = moe.router._replace(tau=0.8)
    out = moe(x, 'moe_actual')
    assert out.abstained and out.route == DENSE_NAME
    assert out.route_index == DENSE and out.decoded == [DENSE_NAME]
    torch.testing.assert_close(out.image, _expected(dense, x, None),
                               rtol=0, atol=0)
    # the temperature flattens p: T = 4 gives max p = 0.45 < 0.5
    moe.router = moe.router._replace(temperature=4.0, tau=0.5)
    out = moe(x, 'moe_actual')
    assert out.abstained
    assert max(out.probs) == pytest.approx(
        float(torch.tensor([0.5, 0., 0.]).softmax(0).max()))


@pytest.mark.parametrize('best', range(3))
def test_oracle_picks_the_known_best_expert(toy, best):
    moe, _, experts = toy
    x = _image(best + 3)
    name = EXPERTS[best]
    gt = _expected(experts[name], x, name).clamp(0, 1)
    out = moe(x, 'moe_oracle', gt=gt)
    assert out.route == name and out.route_index == best
    assert out.decoded == list(EXPERTS) and out.encoder_passes == 1
    assert out.expert_psnr[name] == pytest.approx(100.0)
    assert all(v < 60 for n, v in out.expert_psnr.items() if n != name)
    # the router's choice (always dehaze here) is right for one of three
    actual = moe(x, 'moe_actual')
    assert (actual.route_index == out.route_index) == (best == 0)


def test_top2_blends_the_two_most_probable_experts(toy):
    moe, _, experts = toy
    moe.router = _router([0.2, 1.0, 0.5])
    x = _image()
    out = moe(x, 'top2')
    p = torch.tensor([0.2, 1.0, 0.5]).softmax(0).numpy()
    w = top2_weights(p[None])[0]
    assert out.route == 'derain+desnow' and out.route_index == 1
    assert out.weights == pytest.approx({'derain': w[1], 'desnow': w[2]})
    expected = (w[1] * _expected(experts['derain'], x, 'derain')
                + w[2] * _expected(experts['desnow'], x, 'desnow'))
    torch.testing.assert_close(out.image, expected.float(), rtol=1e-6,
                               atol=1e-6)
    assert not out.abstained


def test_forced_misroute_uses_the_given_expert(toy):
    moe, _, experts = toy
    x = _image()
    out = moe(x, 'forced_misroute', expert='desnow')
    assert out.route == 'desnow' and out.route_index == 2
    assert out.probs is not None  # the router still runs, for the record
    torch.testing.assert_close(out.image,
                               _expected(experts['desnow'], x, 'desnow'),
                               rtol=0, atol=0)


class _Counter:
    """Counts the calls of a bound method and keeps their results."""

    def __init__(self, obj, name: str) -> None:
        self.calls, self.results = 0, []
        method = getattr(obj, name)

        def wrapped(*args, **kwargs):
            self.calls += 1
            result = method(*args, **kwargs)
            self.results.append(result)
            return result

        setattr(obj, name, wrapped)


def test_one_global_pass_per_image_and_the_router_reads_its_vector(toy):
    moe, dense, experts = toy
    x = _image()
    reference = dense.encode(x).global_vec
    encodes = {n: _Counter(b, 'encode') for n, b in moe.backbones.items()}
    decodes = {n: _Counter(b, 'decode') for n, b in moe.backbones.items()}
    seen = []
    moe.router.router.register_forward_hook(
        lambda module, args, kwargs, out: seen.append(kwargs),
        with_kwargs=True)
    out = moe(x, 'moe_actual')
    assert out.route == 'dehaze' and out.encoder_passes == 1
    assert {n: c.calls for n, c in encodes.items()} == {
        DENSE_NAME: 1, 'dehaze': 0, 'derain': 0, 'desnow': 0}
    # only the chosen expert decodes, once per tile of the padded image
    cache = encodes[DENSE_NAME].results[0]
    tiles = len(tile_regions(*cache.padded_size, 32, 16, 8))
    assert tiles == 9  # 40 x 56 padded to 64 x 64: 3 x 3 tiles
    assert decodes['dehaze'].calls == tiles
    assert sum(c.calls for c in decodes.values()) == tiles
    # the router got the very vector of the cached pass (no second pass)
    cached = cache.global_vec
    assert len(seen) == 1 and seen[0]['global_vec'] is cached
    torch.testing.assert_close(cached, reference, rtol=0, atol=0)
    # every model from one pass
    global_vec, outputs = moe.run_all(x)
    assert encodes[DENSE_NAME].calls == 2
    assert all(encodes[n].calls == 0 for n in EXPERTS)
    torch.testing.assert_close(outputs['desnow'],
                               _expected(experts['desnow'], x, 'desnow'),
                               rtol=0, atol=0)
    assert global_vec is encodes[DENSE_NAME].results[1].global_vec


def test_an_expert_with_another_encoder_runs_its_own_pass(caplog):
    dense = _dense()
    experts = _experts(dense)
    with torch.no_grad():
        experts['derain'].encoder[1].block.conv1.weight[0, 0, 0, 0] += 0.5
    reason = global_pass_difference(dense, experts['derain'])
    assert 'encoder.1.block.conv1.weight' in reason and '0.5' in reason
    assert global_pass_difference(dense, experts['dehaze']) is None
    moe = MoEIRestorer(dense, experts, router=_router([0., 3., 0.]),
                       **TILING)
    assert set(moe.own_pass) == {'derain'}
    encodes = {n: _Counter(b, 'encode') for n, b in moe.backbones.items()}
    x = _image()
    out = moe(x, 'moe_actual')
    assert out.route == 'derain' and out.encoder_passes == 2
    assert encodes[DENSE_NAME].calls == 1 and encodes['derain'].calls == 1
    torch.testing.assert_close(out.image,
                               _expected(experts['derain'], x, 'derain'),
                               rtol=0, atol=0)
    # the shared experts still decode from the dense pass
    assert moe(x, 'forced_misroute', expert='desnow').encoder_passes == 1


def test_an_expert_can_be_the_global_source():
    dense = _dense()
    experts = _experts(dense)
    with torch.no_grad():
        dense.bottleneck.embed.weight.mul_(1.1)
    moe = MoEIRestorer(dense, experts, router=_router([2., 0., 0.],
                                                      tau=0.9),
                       global_source='dehaze', **TILING)
    assert set(moe.own_pass) == {DENSE_NAME}
    x = _image()
    out = moe(x, 'moe_actual')  # abstains: the dense model's own pass
    assert out.abstained and out.encoder_passes == 2
    torch.testing.assert_close(out.image, _expected(dense, x, None),
                               rtol=0, atol=0)
    moe.router = moe.router._replace(tau=0.0)
    assert moe(x, 'moe_actual').encoder_passes == 1


def test_local_router_reads_the_image():
    dense = _dense()
    torch.manual_seed(1)
    local = UtilityRouter(num_experts=3, input='local').eval()
    seen = []
    local.register_forward_hook(
        lambda module, args, kwargs, out: seen.append(kwargs),
        with_kwargs=True)
    moe = MoEIRestorer(dense, _experts(dense),
                       local_router=CalibratedRouter(local, EXPERTS, 1.0,
                                                     0.0), **TILING)
    x = _image()
    out = moe(x, 'local_router')
    assert seen[0]['image'] is not None
    torch.testing.assert_close(seen[0]['image'], x)
    expected = local(image=x).softmax(-1)[0]
    assert out.route_index == int(expected.argmax())
    np.testing.assert_allclose(out.probs, expected.detach().numpy(),
                               rtol=1e-5)


def test_bad_calls_name_the_problem(toy):
    moe, dense, experts = toy
    x = _image()
    with pytest.raises(ConfigError, match='mode must be one of'):
        moe(x, 'top3')
    with pytest.raises(ConfigError, match='needs the clean image gt'):
        moe(x, 'moe_oracle')
    with pytest.raises(ConfigError, match='needs expert='):
        moe(x, 'forced_misroute', expert='dense')
    with pytest.raises(ConfigError, match='needs a local_router'):
        moe(x, 'local_router')
    with pytest.raises(DataError, match='one image at a time'):
        moe(torch.cat([x, x]), 'dense')
    with pytest.raises(ConfigError, match='needs a router'):
        MoEIRestorer(dense, experts, **TILING)(x, 'moe_actual')
    with pytest.raises(ConfigError, match='routes to'):
        MoEIRestorer(dense, {'dehaze': experts['dehaze']},
                     router=_router([0., 0., 0.]))
    with pytest.raises(ConfigError, match='has no adapter of that task'):
        MoEIRestorer(dense, {'dehaze': dense})
    with pytest.raises(ConfigError, match='global_source'):
        MoEIRestorer(dense, experts, global_source='derainer')
