"""The demo restoration set as a data set type, written on first use."""
from typing import Optional

from featsel.registry import DATASETS
from ..demo_data import prepare_demo_root
from .dataset import PairedRestorationDataset
from .demo import DEMO_RESTORATION


@DATASETS.register_module()
class DemoRestorationDataset(PairedRestorationDataset):
    """The synthetic restoration set (:mod:`featsel.datasets.restoration.
    demo`), read by :class:`PairedRestorationDataset`.

    If ``data_root`` holds no set (``meta.jsonl`` is missing), one is
    written there first, but only at the default root
    ``'data/demo_restoration/'`` or when ``create_demo=True``; any other
    root without a set is a :class:`~featsel.utils.DataError` naming it.
    Concurrent ranks may write at once (see
    :mod:`featsel.datasets.demo_data`).

    Example config::

        dict(type='DemoRestorationDataset', split='val',
             pipeline=[dict(type='LoadPairedImages'),
                       dict(type='PackRestorationInputs')])

    Args:
        data_root (str): Folder of the set. Defaults to
            ``'data/demo_restoration/'``.
        demo_cfg (dict, optional): ``num_scenes``, ``variants``, ``size``,
            ``seed`` and ``large_size`` of a set that is written; an
            existing set is used as it is. Defaults to None (36 scenes,
            72 pairs of 128² per task, one 3840×2160 scene).
        create_demo (bool): Write a missing set at a ``data_root`` other
            than the default. Defaults to False.
        **kwargs: Passed to :class:`PairedRestorationDataset`.

    Raises:
        ConfigError: If ``demo_cfg`` holds an unknown key.
        DataError: If ``data_root`` holds no set and may not get one.
    """

    def __init__(self,
                 data_root: str = DEMO_RESTORATION.default_root,
                 demo_cfg: Optional[dict] = None,
                 create_demo: bool = False,
                 **kwargs) -> None:
        prepare_demo_root(DEMO_RESTORATION, data_root, type(self).__name__,
                          demo_cfg, create_demo)
        super().__init__(data_root=data_root, **kwargs)
