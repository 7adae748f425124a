"""Tiny multi-modal ReID configs and batches for the model tests."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.structures import ReIDDataSample
from torch import Tensor

MODALITIES = ('RGB', 'NI', 'TI')
SIZE = (32, 16)  # patch 4: an 8 x 4 grid of 32 tokens


def tiny_reid_cfg(modalities: Sequence[str] = MODALITIES,
                  selector: Optional[dict] = None, num_classes: int = 4,
                  **overrides) -> dict:
    """A 2-layer, 32-wide ViT per modality, projected to 16 channels."""
    cfg = dict(
        type='MultiModalReID',
        modalities=tuple(modalities),
        num_classes=num_classes,
        embed_dims=16,
        data_preprocessor=dict(
            type='MultiModalReIDDataPreprocessor',
            mean=[[127.5] * 3] * len(modalities),
            std=[[127.5] * 3] * len(modalities)),
        backbone=dict(type='mmseg.VisionTransformer', img_size=SIZE,
                      patch_size=4, embed_dims=32, num_layers=2,
                      num_heads=2, output_cls_token=True, final_norm=True),
        selector=selector)
    cfg.update(overrides)
    return cfg


def sdtps_cfg() -> dict:
    """The SDTPS selector; on the tiny model it keeps 16 of 32 tokens and
    aggregates them into 6 (plus the extra token)."""
    return dict(type='SDTPSSelector')


def reid_batch(modalities: Sequence[str] = MODALITIES, num_ids: int = 4,
               per_id: int = 2, seed: int = 0
               ) -> Tuple[List[Tensor], List[ReIDDataSample]]:
    """uint8 ``(3M, H, W)`` images: each identity is a fixed random pattern
    (per modality) plus per-image noise, so identities are learnable."""
    g = torch.Generator().manual_seed(seed)
    channels = 3 * len(modalities)
    patterns = torch.rand(num_ids, channels, *SIZE, generator=g) * 200
    inputs, samples = [], []
    for pid in range(num_ids):
        for _ in range(per_id):
            noise = torch.rand(channels, *SIZE, generator=g) * 55
            inputs.append((patterns[pid] + noise).to(torch.uint8))
            sample = ReIDDataSample(metainfo=dict(
                modalities=tuple(modalities), img_shape=SIZE))
            sample.set_gt_label(pid)
            samples.append(sample)
    return inputs, samples


def preprocess(model, modalities: Sequence[str] = MODALITIES,
               **kwargs) -> dict:
    """A batch through the model's data preprocessor."""
    inputs, samples = reid_batch(modalities, **kwargs)
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples),
                                   True)
