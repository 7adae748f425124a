"""RT-DETR on mmdet's DINO parts, with switchable decoder MoE."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.detectors import DINO
from mmdet.models.layers import DinoTransformerDecoder
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...layers.moe_slot import replace_ffn


@MODELS.register_module()
class RTDETR(DINO):
    """Real-time DETR: backbone, hybrid encoder (the neck), DINO decoder.

    Differences from mmdet's :class:`DINO`, following RT-DETR:

    * no deformable encoder: the neck (:class:`HybridEncoder`) already
      mixed the levels, so its outputs are the decoder's memory;
    * the ``num_queries`` decoder queries take the content of the top-k
      memory tokens by class score (detached) instead of learned
      embeddings; their boxes come from the same tokens;
    * the decoder layers' FFNs can be mixtures of experts
      (``decoder.moe_cfg``);
    * auxiliary losses of the neck's and decoder's plug-ins (MoE balance,
      pruning) are added as ``enc_<name>`` / ``dec_<name>``, each the mean
      over the modules that report it.

    The classification loss with IoU targets (``IoUVarifocalLoss``),
    Hungarian matching and denoising queries are mmdet's.

    Args:
        decoder (dict): ``DinoTransformerDecoder`` arguments plus an
            optional ``moe_cfg`` that replaces every layer's FFN.
        Other arguments: as :class:`mmdet.models.DINO` (``encoder`` and
        ``positional_encoding`` are not used and must be left out).
    """

    def __init__(self, *args, **kwargs) -> None:
        for unused in ('encoder', 'positional_encoding'):
            if kwargs.get(unused) is not None:
                raise ValueError(
                    f'RTDETR does not use `{unused}`: the neck '
                    '(HybridEncoder) is the encoder')
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        decoder_cfg = dict(self.decoder)
        moe_cfg = decoder_cfg.pop('moe_cfg', None)
        self.decoder = DinoTransformerDecoder(**decoder_cfg)
        for layer in self.decoder.layers:
            replace_ffn(layer, moe_cfg)
        self.embed_dims = self.decoder.embed_dims
        self.memory_trans_fc = nn.Linear(self.embed_dims, self.embed_dims)
        self.memory_trans_norm = nn.LayerNorm(self.embed_dims)

    def init_weights(self) -> None:
        BaseModule.init_weights(self)
        for p in self.decoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()
        nn.init.xavier_uniform_(self.memory_trans_fc.weight)

    def pre_transformer(
            self,
            mlvl_feats: Sequence[Tensor],
            batch_data_samples: OptSampleList = None) -> Tuple[Dict, Dict]:
        """Flatten the neck's levels into one memory sequence.

        Padding masks are only built when the images of a batch differ in
        size from the padded input.

        Returns:
            tuple[dict]: Inputs of :meth:`forward_encoder` and of
            :meth:`forward_decoder`.
        """
        batch_size = mlvl_feats[0].size(0)
        input_h, input_w = batch_data_samples[0].batch_input_shape
        img_shapes = [s.img_shape[:2] for s in batch_data_samples]
        padded = any(
            tuple(s) != (input_h, input_w) for s in img_shapes)
        masks: List[Optional[Tensor]] = [None] * len(mlvl_feats)
        if padded:
            full = mlvl_feats[0].new_ones((batch_size, input_h, input_w))
            for i, (h, w) in enumerate(img_shapes):
                full[i, :h, :w] = 0
            masks = [
                F.interpolate(full[None], size=f.shape[-2:])[0].bool()
                for f in mlvl_feats
            ]
        memory = torch.cat([f.flatten(2).transpose(1, 2) for f in mlvl_feats],
                           dim=1)
        spatial_shapes = torch.as_tensor(
            [f.shape[-2:] for f in mlvl_feats], dtype=torch.long,
            device=memory.device)
        level_start_index = torch.cat((spatial_shapes.new_zeros(
            (1, )), spatial_shapes.prod(1).cumsum(0)[:-1]))
        if padded:
            memory_mask = torch.cat([m.flatten(1) for m in masks], dim=1)
            valid_ratios = torch.stack(
                [self.get_valid_ratio(m) for m in masks], dim=1)
        else:
            memory_mask = None
            valid_ratios = memory.new_ones(batch_size, len(mlvl_feats), 2)
        encoder_inputs = dict(
            feat=memory, feat_mask=memory_mask,
            spatial_shapes=spatial_shapes)
        decoder_inputs = dict(
            memory_mask=memory_mask,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios)
        return encoder_inputs, decoder_inputs

    def forward_encoder(self, feat: Tensor, feat_mask: Optional[Tensor],
                        spatial_shapes: Tensor) -> Dict:
        """The neck was the encoder: its tokens are the memory."""
        return dict(memory=feat, memory_mask=feat_mask,
                    spatial_shapes=spatial_shapes)

    def pre_decoder(
        self,
        memory: Tensor,
        memory_mask: Optional[Tensor],
        spatial_shapes: Tensor,
        batch_data_samples: OptSampleList = None,
    ) -> Tuple[Dict, Dict]:
        """Select the top-k memory tokens as the decoder's queries.

        Args:
            memory (Tensor): ``(B, N, C)`` tokens of all levels.
            memory_mask (Tensor, optional): ``(B, N)``, True at padding.
            spatial_shapes (Tensor): ``(L, 2)`` level sizes.

        Returns:
            tuple[dict]: Decoder inputs (``query (B, Q', C)``,
            ``reference_points (B, Q', 4)``, ``dn_mask``) and head inputs
            (encoder top-k scores and boxes, ``dn_meta``; training only).
        """
        num_tokens = memory.size(1)
        if num_tokens < self.num_queries:
            raise ValueError(
                f'num_queries ({self.num_queries}) exceeds the {num_tokens} '
                'memory tokens of this input size: use larger images or '
                'fewer queries')
        output_memory, output_proposals = self.gen_encoder_output_proposals(
            memory, memory_mask, spatial_shapes)
        level = self.decoder.num_layers
        enc_class = self.bbox_head.cls_branches[level](output_memory)
        enc_coord_unact = self.bbox_head.reg_branches[level](
            output_memory) + output_proposals

        topk = torch.topk(enc_class.max(-1)[0], k=self.num_queries, dim=1)[1]

        def gather(x: Tensor) -> Tensor:
            return x.gather(1, topk[..., None].expand(-1, -1, x.size(-1)))

        topk_score = gather(enc_class)
        topk_coords_unact = gather(enc_coord_unact)
        topk_coords = topk_coords_unact.sigmoid()
        query = gather(output_memory).detach()
        reference_points = topk_coords_unact.detach()
        dn_mask = dn_meta = None
        if self.training:
            dn_label_query, dn_bbox_query, dn_mask, dn_meta = \
                self.dn_query_generator(batch_data_samples)
            query = torch.cat([dn_label_query, query], dim=1)
            reference_points = torch.cat([dn_bbox_query, reference_points],
                                         dim=1)
        decoder_inputs = dict(
            query=query,
            memory=memory,
            reference_points=reference_points.sigmoid(),
            dn_mask=dn_mask)
        head_inputs = dict(
            enc_outputs_class=topk_score,
            enc_outputs_coord=topk_coords,
            dn_meta=dn_meta) if self.training else dict()
        return decoder_inputs, head_inputs

    def forward_decoder(self, *args, **kwargs) -> Dict:
        outputs = super().forward_decoder(*args, **kwargs)
        if self.training:
            # A batch without boxes has no denoising queries; touching the
            # label embedding keeps it in the graph so DDP does not hang.
            label_embedding = self.dn_query_generator.label_embedding.weight
            outputs['hidden_states'] = (
                outputs['hidden_states'] + 0.0 * label_embedding.sum())
        return outputs

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Detection losses plus the plug-ins' auxiliary losses."""
        losses = super().loss(batch_inputs, batch_data_samples)
        losses.update(self.plugin_losses())
        return losses

    def plugin_losses(self) -> Dict[str, Tensor]:
        """Auxiliary losses of the last forward of the neck's and the
        decoder's plug-ins, averaged over the modules that report them."""
        losses: Dict[str, Tensor] = {}
        for prefix, part in (('enc', self.neck), ('dec', self.decoder)):
            per_key: Dict[str, List[Tensor]] = {}
            for module in part.modules():
                if module is part or not hasattr(module, 'aux_losses'):
                    continue
                for key, value in module.aux_losses().items():
                    per_key.setdefault(key, []).append(value)
            for key, values in per_key.items():
                losses[f'{prefix}_{key}'] = torch.stack(values).mean()
        return losses
