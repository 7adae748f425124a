"""The demo lesion set as a data set type, written on first use."""
from typing import Optional

from featsel.registry import DATASETS
from .demo_data import prepare_demo_root
from .demo_lesions import DEMO_LESIONS
from .lesion_dataset import LesionSegDataset


@DATASETS.register_module()
class DemoLesionSegDataset(LesionSegDataset):
    """The synthetic lesion set (:mod:`featsel.datasets.demo_lesions`),
    read by :class:`LesionSegDataset`.

    If ``data_root`` holds no set (``splits/val.txt`` is missing), one is
    written there first, but only at the default root
    ``'data/demo_lesions/'`` or when ``create_demo=True``; any other root
    without a set is a :class:`~featsel.utils.DataError` naming it, so a
    mistyped ``data_root`` does not train on a fresh synthetic set.
    Concurrent ranks may write at once (see
    :mod:`featsel.datasets.demo_data`).

    Example config::

        dict(type='DemoLesionSegDataset', data_root='data/demo_lesions/',
             ann_file='splits/train.txt',
             data_prefix=dict(img_path='img_dir/train',
                              seg_map_path='ann_dir/train'),
             pipeline=[...])

    Args:
        data_root (str): Folder of the set. Defaults to
            ``'data/demo_lesions/'``.
        demo_cfg (dict, optional): ``num_train``, ``num_val``, ``size`` and
            ``seed`` of a set that is written; an existing set is used as
            it is. Defaults to None (240 + 60 images of 128²).
        create_demo (bool): Write a missing set at a ``data_root`` other
            than the default. Defaults to False.
        **kwargs: Passed to :class:`LesionSegDataset`.

    Raises:
        ConfigError: If ``demo_cfg`` holds an unknown key.
        DataError: If ``data_root`` holds no set and may not get one.
    """

    def __init__(self,
                 data_root: str = DEMO_LESIONS.default_root,
                 demo_cfg: Optional[dict] = None,
                 create_demo: bool = False,
                 **kwargs) -> None:
        prepare_demo_root(DEMO_LESIONS, data_root, type(self).__name__,
                          demo_cfg, create_demo)
        super().__init__(data_root=data_root, **kwargs)
