"""Detection configs shrunk for tests, and synthetic detection batches."""
from typing import List, Sequence

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

#: the detection configs of SPEC S4
DSET_CONFIGS = ('rtdetr_r18', 'rtdetr_r18_moe', 'rtdetr_r18_prune',
                'dset_r18', 'rtdetr_r50', 'dset_r50')


def tiny_detector_cfg(name: str, num_queries: int = 20) -> dict:
    """``cfg.model`` of ``configs/dset/<name>.py`` with few queries, so
    64x64 inputs (84 memory tokens) are enough."""
    cfg = Config.fromfile(f'configs/dset/{name}.py')
    cfg.model.num_queries = num_queries
    cfg.model.test_cfg.max_per_img = num_queries
    cfg.model.dn_cfg.group_cfg.num_dn_queries = 10
    return cfg.model


def build_detector(cfg: dict, seed: int = 0):
    import featsel.det  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


def det_samples(num_boxes: Sequence[int], size: int = 64,
                img_shapes: Sequence = None, seed: int = 0) -> List:
    """Data samples with ``num_boxes[i]`` random boxes in image ``i``."""
    from mmdet.structures import DetDataSample
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for i, n in enumerate(num_boxes):
        h, w = img_shapes[i] if img_shapes else (size, size)
        sample = DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w),
            batch_input_shape=(size, size), pad_shape=(size, size),
            scale_factor=(1., 1.)))
        xy = torch.rand(n, 2, generator=generator) * min(h, w) * 0.5
        wh = torch.rand(n, 2, generator=generator) * min(h, w) * 0.4 + 6
        gt = InstanceData()
        gt.bboxes = torch.cat([xy, xy + wh], dim=1)
        gt.labels = torch.randint(0, 4, (n, ), generator=generator)
        sample.gt_instances = gt
        samples.append(sample)
    return samples
