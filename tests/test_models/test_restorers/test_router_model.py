"""UtilityRouterModel: the loss is KL(q || softmax(z)) of its router, it
falls when trained, predictions are the router's softmax and argmax, a local
router reads images of any size, and wrong configs are named."""
import pytest
import torch
from mmengine.structures import BaseDataElement

from featsel.models.losses import soft_utility_labels
from featsel.models.restorers import UtilityRouterModel
from featsel.utils import ConfigError, DataError

EXPERTS = ['dehaze', 'derain', 'desnow']


def _model(**router) -> UtilityRouterModel:
    torch.manual_seed(0)
    cfg = dict(type='UtilityRouter', in_dims=6, hidden_dims=16)
    cfg.update(router)
    return UtilityRouterModel(router=cfg, experts=EXPERTS)


def _batch(n: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    vec = torch.randn(n, 6, generator=g)
    mse = torch.rand(n, 3, generator=g) * 0.02
    q = soft_utility_labels(mse, 80.).float()
    samples = []
    for row in q:
        sample = BaseDataElement()
        sample.soft_label = row
        samples.append(sample)
    return dict(global_vec=list(vec)), samples, vec, q


def test_loss_is_the_kl_of_the_soft_labels():
    model = _model()
    inputs, samples, vec, q = _batch()
    loss = model(inputs, samples, mode='loss')
    assert set(loss) == {'loss_kl'}
    logits = model.router(global_vec=vec)
    log_p = logits.log_softmax(-1)
    expected = (q * (q.log() - log_p)).sum(1).mean()
    torch.testing.assert_close(loss['loss_kl'], expected)
    loss['loss_kl'].backward()
    assert all(p.grad is not None for p in model.router.parameters())


def test_loss_falls_when_trained():
    model = _model()
    inputs, samples, _, _ = _batch(16)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model(inputs, samples, mode='loss')['loss_kl'].item()
    for _ in range(50):
        optim.zero_grad()
        loss = model(inputs, samples, mode='loss')['loss_kl']
        loss.backward()
        optim.step()
    assert loss.item() < 0.2 * first


def test_predict_gives_softmax_and_argmax():
    model = _model().eval()
    inputs, samples, vec, _ = _batch()
    out = model(inputs, samples, mode='predict')
    logits = model(inputs, mode='tensor')
    assert logits.shape == (8, 3)
    for row, sample in zip(logits, out):
        torch.testing.assert_close(sample.pred_logits, row)
        torch.testing.assert_close(sample.pred_probs, row.softmax(-1))
        assert sample.pred_expert == int(row.argmax())


def test_local_router_reads_images_of_any_size():
    model = _model(input='local', in_dims=None).eval()
    images = [torch.randint(0, 256, (3, 20, 24), dtype=torch.uint8),
              torch.rand(3, 32, 16)]
    logits = model(dict(image=images), mode='tensor')
    for row, image in zip(logits, images):
        x = image.float() / 255 if image.dtype == torch.uint8 else image
        torch.testing.assert_close(row, model.router(image=x[None])[0])
    with pytest.raises(DataError, match='with_image=True'):
        model(dict(global_vec=[torch.zeros(6)]), mode='tensor')


def test_wrong_configs_are_named():
    with pytest.raises(ConfigError, match='num_experts=4'):
        UtilityRouterModel(router=dict(type='UtilityRouter', in_dims=6,
                                       num_experts=4), experts=EXPERTS)
    with pytest.raises(ConfigError, match='two different experts'):
        UtilityRouterModel(router=dict(type='UtilityRouter', in_dims=6),
                           experts=['dehaze', 'dehaze'])
    with pytest.raises(ConfigError, match='must be a UtilityRouter'):
        UtilityRouterModel(router=dict(type='TopKRouter', embed_dims=6,
                                       num_experts=3), experts=EXPERTS)
