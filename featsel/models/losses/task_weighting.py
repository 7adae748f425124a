"""Multi-task loss weighting."""
from typing import Dict, Mapping

import torch
from torch import Tensor, nn

from ...registry import LOSSES
from ...utils import ConfigError
from ..base import BaseLoss, Example

_FORMS = ('classification', 'regression')


@LOSSES.register_module()
class UncertaintyWeightedLoss(BaseLoss):
    """Homoscedastic-uncertainty weighting (Kendall et al., CVPR 2018).

    With a learned ``s_t = log sigma_t^2`` per task:

    * classification: ``L_t / sigma_t^2 + log sigma_t = exp(-s_t) L_t + s_t/2``
    * regression: ``L_t / (2 sigma_t^2) + log sigma_t
      = exp(-s_t) L_t / 2 + s_t/2``

    Args:
        task_forms (Mapping[str, str]): Task name -> ``'classification'`` or
            ``'regression'``; filled in by the model from its task list.
        init_log_var (float): Initial ``s_t``. Defaults to 0.
    """

    example = Example(
        args=dict(task_forms=dict(seg='classification', sdf='regression')),
        run=lambda m: m(dict(seg=torch.tensor(0.7), sdf=torch.tensor(0.2))))

    def __init__(self, task_forms: Mapping[str, str],
                 init_log_var: float = 0.0) -> None:
        super().__init__()
        for task, form in task_forms.items():
            if form not in _FORMS:
                raise ConfigError(f'task "{task}" has loss form "{form}"; '
                                  f'choose from {_FORMS}')
        self.task_forms = dict(task_forms)
        self.log_vars = nn.ParameterDict({
            task: nn.Parameter(torch.tensor(float(init_log_var)))
            for task in task_forms
        })

    def forward(self, task_losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Weight raw task losses.

        Returns:
            dict: ``loss_<task>`` (weighted, optimised) and ``sigma_<task>``
            (logged only).
        """
        out = {}
        for task, loss in task_losses.items():
            s = self.log_vars[task]
            scale = 1.0 if self.task_forms[task] == 'classification' else 0.5
            out[f'loss_{task}'] = scale * torch.exp(-s) * loss + 0.5 * s
            out[f'sigma_{task}'] = torch.exp(0.5 * s).detach()
        return out


@LOSSES.register_module()
class FixedTaskWeights(BaseLoss):
    """``sum_t w_t L_t`` with weights from the config.

    Args:
        task_forms (Mapping[str, str]): Task names (forms unused); filled in
            by the model.
        weights (Mapping[str, float], optional): Per-task weight; tasks not
            named get 1.0.
    """

    example = Example(
        args=dict(task_forms=dict(seg='classification', sdf='regression'),
                  weights=dict(sdf=0.5)),
        run=lambda m: m(dict(seg=torch.tensor(0.7), sdf=torch.tensor(0.2))))

    def __init__(self, task_forms: Mapping[str, str],
                 weights: Mapping[str, float] = None) -> None:
        super().__init__()
        weights = dict(weights or {})
        unknown = set(weights) - set(task_forms)
        if unknown:
            raise ConfigError(f'loss_weighting.weights names unknown tasks '
                              f'{sorted(unknown)}; tasks are '
                              f'{list(task_forms)}')
        self.weights = {t: float(weights.get(t, 1.0)) for t in task_forms}

    def forward(self, task_losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Returns ``loss_<task> = w_t * L_t``."""
        return {f'loss_{t}': self.weights[t] * loss
                for t, loss in task_losses.items()}
