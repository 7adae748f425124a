"""The demo shapes set as a COCO data set type, written on first use."""
from typing import Optional

from mmdet.registry import DATASETS

from .coco_dataset import CheckedCocoDataset
from .demo_data import prepare_demo_root
from .demo_shapes_coco import DEMO_SHAPES, DEMO_SHAPES_CLASSES


@DATASETS.register_module()
class DemoShapesCocoDataset(CheckedCocoDataset):
    """The synthetic shapes detection set, read by
    :class:`~featsel.datasets.CheckedCocoDataset`.

    Registered in mmdet's ``DATASETS``: configs with ``default_scope='mmdet'``
    name it ``type='DemoShapesCocoDataset'``. If ``data_root`` holds no set
    yet (``annotations/instances_val.json`` is missing), one is written
    there first (see :mod:`featsel.datasets.demo_shapes_coco`), but only at
    the default root ``'data/demo_shapes/'`` or when ``create_demo=True``;
    any other root without a set is a :class:`~featsel.utils.DataError`
    naming it, so a mistyped ``data_root`` does not train on a fresh
    synthetic set. Concurrent ranks may write at once. Category ids
    ``(3, 7, 11, 20)`` map to label indices ``0..3`` in the order of
    :data:`DEMO_SHAPES_CLASSES`.

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
        create_demo (bool): Write a missing set at a ``data_root`` other
            than the default. Defaults to False.
        **kwargs: Passed to :class:`CheckedCocoDataset`.

    Raises:
        ConfigError: If ``demo_cfg`` holds an unknown key.
        DataError: If ``data_root`` holds no set and may not get one.
    """

    METAINFO = dict(
        classes=DEMO_SHAPES_CLASSES,
        palette=[(220, 20, 60), (0, 130, 200), (60, 180, 75),
                 (245, 130, 48)])

    def __init__(self,
                 *args,
                 data_root: str = DEMO_SHAPES.default_root,
                 demo_cfg: Optional[dict] = None,
                 create_demo: bool = False,
                 **kwargs) -> None:
        prepare_demo_root(DEMO_SHAPES, data_root, type(self).__name__,
                          demo_cfg, create_demo)
        super().__init__(*args, data_root=data_root, **kwargs)
