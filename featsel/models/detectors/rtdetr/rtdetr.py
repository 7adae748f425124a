"""RT-DETR on mmdet's DINO parts, with switchable decoder MoE."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmengine.model import BaseModule
from torch import Tensor, nn

from ....utils.errors import ConfigError
from ...base import collect_aux_losses
from ...layers.moe_ffn import moe_ignore_tokens
from ...layers.moe_slot import replace_ffn
from .decoder import RTDETRTransformerDecoder
from .hybrid_encoder import resize_padding_mask


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
      (``decoder.moe_cfg``); denoising queries are left out of their
      balance loss and usage (they do not exist at inference);
    * padding: the neck gets the batch's padding mask (it runs in
      :meth:`forward_transformer`, where the data samples are known), pad
      tokens are never selected as queries, and query positions are
      embedded from boxes in image coordinates
      (:class:`RTDETRTransformerDecoder`), so an image padded into a
      larger batch gets the boxes it gets alone;
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
        self.decoder = RTDETRTransformerDecoder(**decoder_cfg)
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

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone levels. The neck (the hybrid encoder) needs the padding
        mask of the batch, so it runs in :meth:`forward_transformer`."""
        return self.backbone(batch_inputs)

    def forward_transformer(self,
                            img_feats: Tuple[Tensor, ...],
                            batch_data_samples: OptSampleList = None) -> Dict:
        """Hybrid encoder with the batch's padding mask, then DINO's query
        selection, decoder and head inputs."""
        padding_mask = None
        if batch_data_samples is not None:
            padding_mask = image_padding_mask(batch_data_samples,
                                              img_feats[0])
        feats = self.neck(img_feats, padding_mask=padding_mask)
        return super().forward_transformer(feats, batch_data_samples)

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
        full = image_padding_mask(batch_data_samples, mlvl_feats[0])
        padded = full is not None
        masks: List[Optional[Tensor]] = [None] * len(mlvl_feats)
        if padded:
            masks = [
                resize_padding_mask(full, f.shape[-2:]) for f in mlvl_feats
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
            raise ConfigError(
                f'model.num_queries ({self.num_queries}) exceeds the '
                f'{num_tokens} memory tokens of this input size (levels '
                f'{spatial_shapes.tolist()}): use larger images or fewer '
                'queries')
        output_memory, output_proposals = self.gen_encoder_output_proposals(
            memory, memory_mask, spatial_shapes)
        level = self.decoder.num_layers
        enc_class = self.bbox_head.cls_branches[level](output_memory)
        enc_coord_unact = self.bbox_head.reg_branches[level](
            output_memory) + output_proposals

        enc_score = enc_class.max(-1)[0]
        if memory_mask is not None:
            # pad tokens are not part of the image: never a query
            enc_score = enc_score.masked_fill(memory_mask, float('-inf'))
        topk = torch.topk(enc_score, k=self.num_queries, dim=1)[1]

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

    def forward_decoder(self, query: Tensor, **kwargs) -> Dict:
        """DINO's decoder; the leading denoising queries of training are
        left out of the MoE layers' balance loss and usage."""
        num_dn = query.size(1) - self.num_queries
        is_dn = None
        if num_dn > 0:
            is_dn = torch.arange(query.size(1), device=query.device) < num_dn
        with moe_ignore_tokens(self.decoder, is_dn):
            outputs = super().forward_decoder(query=query, **kwargs)
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
        """Auxiliary losses of the last forward of the plug-ins, namespaced
        by their path (``'neck.pruner.loss_prune'``,
        ``'decoder.layers.ffn.loss_balance'``: the mean over the layers of
        a stack); see :func:`~featsel.models.base.collect_aux_losses`."""
        return collect_aux_losses(self)


def image_padding_mask(batch_data_samples: SampleList,
                       like: Tensor) -> Optional[Tensor]:
    """Padding mask of a batch at the input resolution.

    Args:
        batch_data_samples (list[DetDataSample]): With ``img_shape`` and
            ``batch_input_shape`` in their metainfo.
        like (Tensor): Any tensor on the batch's device.

    Returns:
        Tensor | None: ``(B, H_in, W_in)`` bool, True outside each image's
        ``img_shape``; None when no image of the batch is padded.
    """
    input_h, input_w = batch_data_samples[0].batch_input_shape
    img_shapes = [s.img_shape[:2] for s in batch_data_samples]
    if all(tuple(s) == (input_h, input_w) for s in img_shapes):
        return None
    mask = torch.ones((len(img_shapes), input_h, input_w), dtype=torch.bool,
                      device=like.device)
    for i, (h, w) in enumerate(img_shapes):
        mask[i, :h, :w] = False
    return mask
