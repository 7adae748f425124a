"""mmdet's COCO data set for the demo shapes set, written on first use."""
from typing import Optional

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from ..utils import ConfigError
from .demo_shapes_coco import DEMO_SHAPES_CLASSES, ensure_demo_shapes_coco

_DEMO_KEYS = ('num_train', 'num_val', 'size', 'seed')


@DATASETS.register_module()
class DemoShapesCocoDataset(CocoDataset):
    """The synthetic shapes detection set, read by mmdet's ``CocoDataset``.

    Registered in mmdet's ``DATASETS``: configs with ``default_scope='mmdet'``
    name it ``type='DemoShapesCocoDataset'``. If ``data_root`` holds no set
    yet (``annotations/instances_val.json`` is missing), one is written
    there first (see :mod:`featsel.datasets.demo_shapes_coco`); concurrent
    ranks may do this at once. Category ids ``(3, 7, 11, 20)`` map to label
    indices ``0..3`` in the order of :data:`DEMO_SHAPES_CLASSES`.

    Example config::

        dict(type='DemoShapesCocoDataset', data_root='data/demo_shapes/',
             ann_file='annotations/instances_train.json',
             data_prefix=dict(img='images/train/'),
             filter_cfg=dict(filter_empty_gt=False), pipeline=[...])

    Args:
        data_root (str): Folder of the set. Defaults to
            ``'data/demo_shapes/'``.
        demo_cfg (dict, optional): ``num_train``, ``num_val``, ``size`` and
            ``seed`` of the set to write when it is missing; an existing set
            is used as it is. Defaults to None (240 + 60 images of 256²).
        **kwargs: Passed to :class:`mmdet.datasets.CocoDataset`.

    Raises:
        ConfigError: If ``demo_cfg`` holds an unknown key.
    """

    METAINFO = dict(
        classes=DEMO_SHAPES_CLASSES,
        palette=[(220, 20, 60), (0, 130, 200), (60, 180, 75),
                 (245, 130, 48)])

    def __init__(self,
                 *args,
                 data_root: str = 'data/demo_shapes/',
                 demo_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        demo_cfg = dict(demo_cfg or {})
        unknown = sorted(set(demo_cfg) - set(_DEMO_KEYS))
        if unknown:
            raise ConfigError(
                f'DemoShapesCocoDataset: unknown key demo_cfg.{unknown[0]}; '
                f'expected some of {_DEMO_KEYS}')
        ensure_demo_shapes_coco(data_root, **demo_cfg)
        super().__init__(*args, data_root=data_root, **kwargs)
