"""Shared encoder -> selector -> task decoders -> task heads (SPEC S1)."""
from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ....registry import MODELS
from ....utils import ConfigError
from ...base import collect_aux_losses
from ...builder import build_selector
from .task_spec import TaskSpec
from .unet_encoder import check_in_channels

SampleList = List[SegDataSample]


@MODELS.register_module()
class MultiTaskSegmentor(BaseModel):
    """Multi-task segmentor with a pluggable feature selector.

    ``{f_i} = E(x)``, ``{f_i^t} = Sel({f_i})``, ``F^t = D({f_i^t})^t``,
    ``y^t = Head^t(F^t)``; losses per task are combined by
    ``loss_weighting`` (uncertainty weighting by default) and the selector's
    and decoder's regularisers are added.

    Args:
        tasks (dict): Task name -> ``dict(kind, loss, [num_classes])`` (see
            :class:`TaskSpec`). Any number of tasks.
        encoder (dict): Shared encoder; must expose ``out_channels``.
        decoder (dict): A ``BaseTaskDecoder``; ``tasks`` and
            ``in_channels`` are filled in from the encoder.
        head (dict): Head applied per task on the decoder output, e.g.
            ``dict(type='FCNHead', _scope_='mmseg', ...)``; ``in_channels``,
            ``num_classes`` and ``out_channels`` are filled in per task.
        selector (dict, optional): A ``BaseSelector``; None means identity.
        loss_weighting (dict): Combines the per-task losses. Defaults to
            ``dict(type='UncertaintyWeightedLoss')``.
        data_preprocessor (dict, optional): Normalises and pads images.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 tasks: Mapping[str, dict],
                 encoder: dict,
                 decoder: dict,
                 head: dict,
                 selector: Optional[dict] = None,
                 loss_weighting: dict = dict(type='UncertaintyWeightedLoss'),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if not tasks:
            raise ConfigError('model.tasks is empty; name at least one task')
        self.tasks: Dict[str, TaskSpec] = {
            name: TaskSpec.from_cfg(name, cfg) for name, cfg in tasks.items()
        }
        names = list(self.tasks)
        self.encoder = MODELS.build(encoder)
        enc_channels = list(self.encoder.out_channels)
        self.selector = build_selector(
            selector or dict(type='IdentitySelector'),
            tasks=names,
            in_channels=enc_channels)
        decoder = dict(decoder)
        decoder['in_channels'] = check_in_channels(
            'model.decoder.in_channels', decoder.get('in_channels'),
            enc_channels)
        self.decoder = MODELS.build(decoder, default_args=dict(tasks=names))
        self.heads = nn.ModuleDict()
        self.task_losses = nn.ModuleDict()
        for name, spec in self.tasks.items():
            head_cfg = dict(head)
            head_cfg['in_channels'] = check_in_channels(
                'model.head.in_channels', [head_cfg['in_channels']]
                if 'in_channels' in head_cfg else None,
                [self.decoder.out_channels])[0]
            head_cfg.update(num_classes=spec.num_classes,
                            out_channels=spec.out_channels)
            self.heads[name] = MODELS.build(head_cfg)
            self.task_losses[name] = nn.ModuleList(
                MODELS.build(cfg) for cfg in spec.losses)
        self.loss_weighting = MODELS.build(
            loss_weighting,
            default_args=dict(
                task_forms={n: s.loss_form for n, s in self.tasks.items()}))

    # ------------------------------------------------------------------ #
    def extract_task_feats(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Args: inputs (B, C, H, W). Returns: per task (B, C', H', W')."""
        feats = self.encoder(inputs)
        return self.decoder(self.selector(feats))

    def task_logits(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Head logits per task at the input size: (B, K_t, H, W)."""
        size = inputs.shape[-2:]
        logits = {}
        for name, feat in self.extract_task_feats(inputs).items():
            out = self.heads[name]([feat])
            if out.shape[-2:] != size:
                out = F.interpolate(out, size=size, mode='bilinear',
                                    align_corners=False)
            logits[name] = out
        return logits

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], SampleList]:
        """mmengine's entry point: ``loss``, ``predict`` or ``tensor``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.task_logits(inputs)
        raise ValueError(f'mode must be loss, predict or tensor, not {mode!r}')

    def loss(self, inputs: Tensor,
             data_samples: SampleList) -> Dict[str, Tensor]:
        """Weighted task losses plus regularisers; raw losses are logged
        under ``raw_<task>``."""
        logits = self.task_logits(inputs)
        raw = {}
        for name, spec in self.tasks.items():
            target = self._stack_targets(data_samples, name, inputs.shape,
                                         spec.pad_value)
            pred, target = spec.loss_inputs(logits[name], target)
            raw[name] = sum(loss(pred, target)
                            for loss in self.task_losses[name])
        losses = dict(self.loss_weighting(raw))
        losses.update({f'raw_{n}': v.detach() for n, v in raw.items()})
        # namespaced by plug-in path: 'selector.loss_x', 'decoder.loss_x'
        losses.update(collect_aux_losses(self))
        return losses

    def predict(self, inputs: Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Write ``pred_<task>`` (and ``prob_<task>`` for classification
        tasks) into each sample at its original size; ``pred_<task>``
        carries the task's ``kind`` and ``num_classes`` as metainfo, and the
        sample's metainfo ``tasks`` the task order."""
        logits = self.task_logits(inputs)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(inputs.shape[0])]
        for i, sample in enumerate(data_samples):
            h, w = sample.metainfo.get('img_shape', inputs.shape[-2:])
            ori = sample.metainfo.get('ori_shape', (h, w))
            sample.set_metainfo(dict(tasks=tuple(self.tasks)))
            for name, spec in self.tasks.items():
                out = logits[name][i:i + 1, :, :h, :w]
                if tuple(out.shape[-2:]) != tuple(ori[:2]):
                    out = F.interpolate(out, size=ori[:2], mode='bilinear',
                                        align_corners=False)
                sample.set_data({
                    f'pred_{name}':
                    PixelData(data=spec.decide(out)[0],
                              metainfo=spec.field_meta)
                })
                if spec.kind_spec.has_probabilities:
                    sample.set_data({
                        f'prob_{name}':
                        PixelData(data=spec.activate(out)[0])
                    })
        return data_samples

    @staticmethod
    def _stack_targets(data_samples: SampleList, task: str,
                       shape: Sequence[int], pad_value: float) -> Tensor:
        """Stack ``gt_<task>`` of a batch, padded to the input size with
        ``pad_value`` (what the padded border is: background).

        Returns:
            Tensor: (B, 1, H, W).
        """
        key = f'gt_{task}'
        targets = []
        for sample in data_samples:
            if key not in sample:
                present = sorted(k[3:] for k in sample.keys()
                                 if k.startswith('gt_'))
                raise ConfigError(
                    f'model.tasks names "{task}" but the data samples carry '
                    f'no "{key}"; the data pipeline produces targets for '
                    f'{present}. Make PackMultiTaskInputs.targets and '
                    'model.tasks name the same tasks')
            t = sample.get(key).data
            pad_h, pad_w = shape[-2] - t.shape[-2], shape[-1] - t.shape[-1]
            if pad_h or pad_w:
                t = F.pad(t, (0, pad_w, 0, pad_h), value=pad_value)
            targets.append(t)
        return torch.stack(targets)
