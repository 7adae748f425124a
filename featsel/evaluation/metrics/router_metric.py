r"""How well a MoE-I router routes, from its logits and the utilities of
every expert (SPEC S3): the validation metric of router training and the
criterion that chooses ``beta``."""
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from featsel.registry import METRICS

from ..calibration import (expected_calibration_error,
                           negative_log_likelihood, softmax_probs)
from ..routing import route_oracle, routing_summary


def router_scores(logits: np.ndarray, soft_labels: np.ndarray,
                  psnr: np.ndarray, dense_psnr: np.ndarray,
                  tasks: Optional[Sequence[str]] = None) -> Dict[str, float]:
    r"""Routing quality of uncalibrated logits (``T = 1``, no abstention).

    With ``p = softmax(z)``, ``k^* = argmax_k PSNR_k`` and the route
    ``argmax_k p_k``:

    * ``accuracy``: share of images routed to ``k^*``;
    * ``nll``: ``-mean log p_{k^*}``; ``ece``: top-label ECE, 15 bins;
    * ``kl``: ``mean_n sum_k q_nk (log q_nk - log p_nk)`` against the soft
      labels ``q``;
    * ``psnr``: macro (over ``tasks``) PSNR of the routed experts;
      ``oracle_psnr`` of ``k^*``; ``oracle_gap`` their difference (dB);
    * ``dense_psnr``: the dense model's macro PSNR, for reference.

    Args:
        logits (np.ndarray): ``(N, K)``.
        soft_labels (np.ndarray): ``(N, K)``, rows sum to one.
        psnr (np.ndarray): ``(N, K)`` PSNR of every expert.
        dense_psnr (np.ndarray): ``(N,)`` PSNR of the dense model.
        tasks (Sequence[str], optional): Task per image (macro means);
            None: plain means.

    Returns:
        dict[str, float]
    """
    logits = np.asarray(logits, np.float64)
    q = np.asarray(soft_labels, np.float64)
    oracle = route_oracle(psnr)
    probs = softmax_probs(logits)
    log_p = torch.as_tensor(logits).log_softmax(-1).numpy()
    with np.errstate(divide='ignore', invalid='ignore'):
        kl = np.where(q > 0, q * (np.log(q) - log_p), 0.).sum(1).mean()
    summary = routing_summary(probs.argmax(1), psnr, dense_psnr, probs,
                              groups=None if tasks is None else
                              np.asarray(tasks))
    dense = routing_summary(np.full(len(oracle), -1), psnr, dense_psnr,
                            groups=None if tasks is None else
                            np.asarray(tasks))
    return dict(accuracy=summary.router_accuracy,
                nll=negative_log_likelihood(logits, oracle),
                ece=expected_calibration_error(probs, oracle), kl=float(kl),
                psnr=summary.score, oracle_psnr=summary.oracle_score,
                oracle_gap=summary.oracle_gap, dense_psnr=dense.score)


@METRICS.register_module()
class RouterMetric(BaseMetric):
    """Routing quality of a :class:`~featsel.models.restorers.
    UtilityRouterModel` on labelled images (:func:`router_scores`).

    Reads from each predicted data sample ``pred_logits`` ``(K,)``,
    ``soft_label`` ``(K,)``, ``psnr`` ``(K,)``, ``dense_psnr`` and the
    ``task``. Returned keys: ``router/accuracy``, ``router/nll``,
    ``router/ece``, ``router/kl``, ``router/psnr``, ``router/oracle_psnr``,
    ``router/oracle_gap``, ``router/dense_psnr``.

    Args:
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Key prefix. Defaults to ``'router'``.
    """

    default_prefix = 'router'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append(dict(
                logits=np.asarray(_cpu(sample['pred_logits']), np.float64),
                soft_label=np.asarray(_cpu(sample['soft_label']),
                                      np.float64),
                psnr=np.asarray(_cpu(sample['psnr']), np.float64),
                dense_psnr=float(sample['dense_psnr']),
                task=sample['task']))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        scores = router_scores(
            np.stack([r['logits'] for r in results]),
            np.stack([r['soft_label'] for r in results]),
            np.stack([r['psnr'] for r in results]),
            np.array([r['dense_psnr'] for r in results]),
            [r['task'] for r in results])
        return {k: round(float(v), 6) for k, v in scores.items()}


def _cpu(value):
    return value.detach().cpu() if isinstance(value, torch.Tensor) \
        else value
