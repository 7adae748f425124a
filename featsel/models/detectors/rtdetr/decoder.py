"""RT-DETR's decoder: DINO's, with query positions in image coordinates."""
from typing import Tuple

import torch
from mmdet.models.layers import DinoTransformerDecoder
from mmdet.models.layers.transformer import coordinate_to_encoding
from mmdet.models.layers.transformer.utils import inverse_sigmoid
from torch import Tensor, nn


class RTDETRTransformerDecoder(DinoTransformerDecoder):
    """:class:`mmdet.models.layers.DinoTransformerDecoder` whose query
    positions come from the boxes in image coordinates.

    Boxes ``b = (cx, cy, w, h)`` are normalised by the image's valid size.
    The deformable cross-attention samples the padded feature maps, so it
    needs ``b * valid_ratio``; DINO also computes the query positional
    embedding ``MLP(sine(b * valid_ratio))`` from the scaled box, which
    changes with the padding of the batch. RT-DETR embeds ``b`` itself:
    ``query_pos = MLP(sine(b))``, so a box gets the same embedding whether
    its image is padded or not. Everything else is DINO's.
    """

    def forward(self, query: Tensor, value: Tensor, key_padding_mask: Tensor,
                self_attn_mask: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor, level_start_index: Tensor,
                valid_ratios: Tensor, reg_branches: nn.ModuleList,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Refine the queries and their boxes layer by layer.

        Args:
            query (Tensor): ``(B, Q, C)``.
            value (Tensor): ``(B, N, C)`` memory.
            key_padding_mask (Tensor): ``(B, N)`` True at padding, or None.
            self_attn_mask (Tensor): ``(Q, Q)`` denoising mask, or None.
            reference_points (Tensor): ``(B, Q, 4)`` boxes in [0, 1].
            spatial_shapes, level_start_index, valid_ratios: as DINO's.
            reg_branches (nn.ModuleList): Box refinement heads.

        Returns:
            tuple[Tensor, Tensor]: ``(L, B, Q, C)`` normalised outputs of
            every layer and ``(L + 1, B, Q, 4)`` boxes (the initial ones
            first).
        """
        if reference_points.shape[-1] != 4:
            raise ValueError('RTDETRTransformerDecoder refines boxes: '
                             'reference_points must be (B, Q, 4), got '
                             f'{tuple(reference_points.shape)}')
        if reg_branches is None or not self.return_intermediate:
            raise ValueError('RTDETRTransformerDecoder needs reg_branches '
                             'and return_intermediate=True')
        intermediate = []
        references = [reference_points]
        scale = torch.cat([valid_ratios, valid_ratios], -1)[:, None]
        for lid, layer in enumerate(self.layers):
            query_pos = self.ref_point_head(
                coordinate_to_encoding(reference_points))
            query = layer(
                query,
                query_pos=query_pos,
                value=value,
                key_padding_mask=key_padding_mask,
                self_attn_mask=self_attn_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=reference_points[:, :, None] * scale,
                **kwargs)
            new_reference_points = (
                reg_branches[lid](query) +
                inverse_sigmoid(reference_points, eps=1e-3)).sigmoid()
            reference_points = new_reference_points.detach()
            intermediate.append(self.norm(query))
            references.append(new_reference_points)
        return torch.stack(intermediate), torch.stack(references)
