r"""The trainable MoE-I router (SPEC S3): a :class:`UtilityRouter` learning
soft utility labels, as an mmengine model."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from ...registry import LOSSES, MODELS, ROUTERS
from ...utils import ConfigError, DataError
from ..routers import UtilityRouter
from .data_preprocessor import to_unit_range

SampleList = List[BaseDataElement]
RouterInputs = Dict[str, Union[Tensor, List[Tensor]]]


@MODELS.register_module()
class UtilityRouterModel(BaseModel):
    r"""Utility distillation of the sample-level router.

    Each sample carries the soft labels ``q`` of its image (``soft_label``,
    ``q_k \propto \exp(-\beta\,\mathrm{MSE}_k)``,
    :class:`~featsel.datasets.RouterLabelsDataset`); the router gives logits
    ``z`` from the cached bottleneck vector (``input='global'``) or from the
    image (``input='local'``), and the loss is ``KL(q || softmax(z))``
    (:class:`~featsel.models.losses.SoftLabelKLLoss`).

    **Inputs** (``inputs`` of a batch): a dict with ``global_vec`` (a
    ``(B, D)`` tensor or a list of ``(D,)``) and, for a local router,
    ``image`` (a list of ``(3, H, W)``, uint8 or float in [0, 1]; images of
    different sizes are routed one size group at a time).

    **Predict** sets on each data sample ``pred_logits`` ``(K,)``,
    ``pred_probs`` ``softmax(z)`` at ``T = 1`` (calibration comes later) and
    ``pred_expert`` (the argmax index). ``mode='tensor'`` returns the
    ``(B, K)`` logits.

    Args:
        router (dict): A :class:`UtilityRouter` config; ``num_experts`` is
            set to ``len(experts)``.
        experts (Sequence[str]): The expert of each router output, in the
            order of the labels (the data set reorders its columns to it).
        loss (dict): The distillation loss. Defaults to
            ``dict(type='SoftLabelKLLoss')``.
        data_preprocessor (dict, optional): Defaults to mmengine's
            ``BaseDataPreprocessor`` (moves the batch to the device).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 router: dict,
                 experts: Sequence[str],
                 loss: dict = dict(type='SoftLabelKLLoss'),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.experts = tuple(experts)
        if len(self.experts) < 2 or len(set(self.experts)) != len(
                self.experts):
            raise ConfigError(f'model.experts must name at least two '
                              f'different experts, got {list(experts)}')
        cfg = dict(router)
        if cfg.get('num_experts', len(self.experts)) != len(self.experts):
            raise ConfigError(
                f'model.router.num_experts={cfg["num_experts"]} but '
                f'model.experts names {len(self.experts)}')
        cfg['num_experts'] = len(self.experts)
        self.router = ROUTERS.build(cfg)
        if not isinstance(self.router, UtilityRouter):
            raise ConfigError(f'model.router must be a UtilityRouter, got '
                              f'{type(self.router).__name__}')
        self.loss_module = LOSSES.build(loss)

    def forward(self, inputs: RouterInputs,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor'):
        """``'loss'``: ``{loss_name: KL}``; ``'predict'``: the samples with
        predictions; ``'tensor'``: ``(B, K)`` logits."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.logits(inputs)
        raise ValueError(f'mode must be "loss", "predict" or "tensor", got '
                         f'"{mode}"')

    def logits(self, inputs: RouterInputs) -> Tensor:
        """Router logits ``(B, K)`` of a batch (the class docstring)."""
        if not isinstance(inputs, dict):
            raise DataError('router inputs must be a dict with "global_vec" '
                            '(and "image" for a local router)')
        if self.router.input == 'global':
            vec = inputs.get('global_vec')
            if vec is None:
                raise DataError('a global router needs inputs["global_vec"]')
            if not isinstance(vec, Tensor):
                vec = torch.stack(list(vec))
            return self.router(global_vec=vec.float())
        images = inputs.get('image')
        if images is None:
            raise DataError('a local router needs inputs["image"]: build '
                            'the data set with with_image=True')
        images = [to_unit_range(x) for x in images]
        out: List[Optional[Tensor]] = [None] * len(images)
        shapes: Dict[tuple, List[int]] = {}
        for i, x in enumerate(images):
            shapes.setdefault(tuple(x.shape), []).append(i)
        for index in shapes.values():
            z = self.router(image=torch.stack([images[i] for i in index]))
            for row, i in enumerate(index):
                out[i] = z[row]
        return torch.stack(out)

    def loss(self, inputs: RouterInputs,
             data_samples: SampleList) -> Dict[str, Tensor]:
        """``KL(q || softmax(z))`` over the batch.

        Args:
            inputs (dict): See the class docstring.
            data_samples (list): Each with ``soft_label`` ``(K,)``.
        """
        if any('soft_label' not in s for s in data_samples):
            raise DataError('a training sample has no soft_label')
        target = torch.stack([s.soft_label for s in data_samples]).float()
        logits = self.logits(inputs)
        return {self.loss_module.loss_name: self.loss_module(logits, target)}

    def predict(self, inputs: RouterInputs,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Logits, ``softmax(z)`` and the argmax expert of each sample."""
        logits = self.logits(inputs)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(logits))]
        probs = logits.float().softmax(-1)
        for sample, z, p in zip(data_samples, logits, probs):
            sample.pred_logits = z
            sample.pred_probs = p
            sample.pred_expert = int(p.argmax())
        return data_samples
