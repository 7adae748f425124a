"""router_scores and RouterMetric on a hand-made case."""
import numpy as np
import pytest
import torch

from featsel.evaluation.metrics import RouterMetric, router_scores


def _case():
    # three images, two experts; the router picks expert 0 everywhere
    logits = np.array([[2., 0.], [1., 0.], [3., 0.]])
    psnr = np.array([[30., 28.], [25., 27.], [20., 19.]])
    dense = np.array([29., 26., 19.5])
    q = np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    return logits, q, psnr, dense


def test_scores_by_hand():
    logits, q, psnr, dense = _case()
    scores = router_scores(logits, q, psnr, dense)
    assert scores['accuracy'] == pytest.approx(2 / 3)
    assert scores['psnr'] == pytest.approx((30 + 25 + 20) / 3)
    assert scores['oracle_psnr'] == pytest.approx((30 + 27 + 20) / 3)
    assert scores['oracle_gap'] == pytest.approx(2 / 3)
    assert scores['dense_psnr'] == pytest.approx(np.mean(dense))
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert scores['kl'] == pytest.approx(
        (q * (np.log(q) - log_p)).sum(1).mean())
    assert scores['nll'] == pytest.approx(
        -np.mean([log_p[0, 0], log_p[1, 1], log_p[2, 0]]))
    # macro over tasks: task a = images 0 and 1, task b = image 2
    macro = router_scores(logits, q, psnr, dense, ['a', 'a', 'b'])
    assert macro['oracle_gap'] == pytest.approx(((30 + 27) - (30 + 25)) / 4)


def test_metric_matches_the_function():
    logits, q, psnr, dense = _case()
    metric = RouterMetric()
    metric.process(None, [
        dict(pred_logits=torch.tensor(z), soft_label=torch.tensor(s),
             psnr=torch.tensor(p), dense_psnr=d, task='a')
        for z, s, p, d in zip(logits, q, psnr, dense)])
    out = metric.evaluate(3)
    expected = router_scores(logits, q, psnr, dense, ['a'] * 3)
    assert set(out) == {f'router/{k}' for k in expected}
    for key, value in expected.items():
        assert out[f'router/{key}'] == pytest.approx(value, abs=1e-6)
