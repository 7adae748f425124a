"""Tiny model configs and synthetic batches for model tests."""
import copy
from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

TASKS = dict(
    seg=dict(kind='mask', loss=[
        dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True),
        dict(type='mmdet.DiceLoss', use_sigmoid=True),
    ]),
    sdf=dict(kind='sdf', loss=dict(type='mmdet.L1Loss')),
    bnd=dict(kind='boundary', loss=dict(type='mmdet.CrossEntropyLoss',
                                        use_sigmoid=True)),
)


def tiny_segmentor_cfg(decoder: dict = None, **overrides) -> dict:
    """A 3-scale, 4-channel multi-task segmentor config."""
    cfg = dict(
        type='MultiTaskSegmentor',
        tasks=copy.deepcopy(TASKS),
        encoder=dict(type='UNetEncoder', base_channels=4, num_stages=3),
        decoder=decoder or dict(type='PerTaskUNetDecoder'),
        head=dict(type='FCNHead', _scope_='mmseg', channels=4, num_convs=1,
                  concat_input=False, dropout_ratio=0.0, threshold=0.5))
    cfg.update(overrides)
    return cfg


def synthetic_batch(batch_size: int = 2, size: int = 16,
                    seed: int = 0) -> tuple:
    """Images with a bright square and matching gt_seg / gt_sdf / gt_bnd."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, 3, size, size, generator=g) * 0.1
    samples: List[SegDataSample] = []
    for i in range(batch_size):
        mask = torch.zeros(1, size, size, dtype=torch.long)
        lo = 2 + i
        mask[:, lo:lo + size // 2, lo:lo + size // 2] = 1
        inputs[i] += mask.float() * 2
        sdf = torch.where(mask.bool(), -0.5, 0.5).float()
        bnd = mask - torch.nn.functional.max_pool2d(
            -mask.float(), 3, 1, 1).neg().long()
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        ori_shape=(size, size)))
        s.gt_seg = PixelData(data=mask)
        s.gt_sdf = PixelData(data=sdf)
        s.gt_bnd = PixelData(data=bnd.clamp(min=0))
        samples.append(s)
    return inputs, samples


def train_tiny(model, steps: int, batch_size: int = 4) -> tuple:
    """Adam on one synthetic batch; returns (summed raw task losses per
    step, the last loss dict)."""
    inputs, samples = synthetic_batch(batch_size=batch_size)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    raw = []
    for _ in range(steps):
        losses = model(inputs, samples, mode='loss')
        total = sum(v for k, v in losses.items() if k.startswith('loss_'))
        optim.zero_grad()
        total.backward()
        optim.step()
        raw.append(float(sum(v for k, v in losses.items()
                             if k.startswith('raw_'))))
    return raw, losses
