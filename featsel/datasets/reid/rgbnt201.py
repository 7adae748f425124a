"""RGBNT201: people seen by aligned RGB, near-infrared and thermal cameras."""
import os.path as osp
import re
from typing import List, Optional

from featsel.registry import DATASETS
from featsel.utils import ConfigError
from ..demo_data import prepare_demo_root
from .base import FolderItem, MultiModalReIDDataset, SplitFolder, aligned_files
from .demo_rgbnt201 import DEMO_RGBNT201


@DATASETS.register_module()
class RGBNT201Dataset(MultiModalReIDDataset):
    """The RGBNT201 layout (also that of the demo set)::

        data_root/                      e.g. RGBNT201/
            train_171/{RGB,NI,TI}/<name>.jpg
            test/{RGB,NI,TI}/<name>.jpg

    The same ``<name>`` in the three folders is one sample;
    ``<name> = PPPPPP_camC_<anything>.jpg``: ``pid`` = the six digits,
    ``camid = C - 1``. ``'test'`` is query and gallery at once (both flags
    set on every sample): the Market-1501 protocol drops, per query, the
    query itself and the gallery items of its identity and camera.

    If ``data_root`` is the demo set's default root
    (``'data/demo_rgbnt201'``) or ``create_demo=True``, a missing demo set
    is written there first (:mod:`featsel.datasets.reid.demo_rgbnt201`);
    concurrent ranks may write at once.

    Example config::

        dict(type='RGBNT201Dataset', data_root='data/RGBNT201',
             split='train', modalities=('RGB', 'NI', 'TI'), pipeline=[...])

    Args:
        data_root (str): Root folder. Defaults to the demo set's root.
        demo_cfg (dict, optional): Options of a demo set that is written
            (``num_train_ids``, ``num_test_ids``, ``num_cameras``,
            ``images_per_camera``, ``seed``); an existing set is used as it
            is. Only with the demo root or ``create_demo``. Defaults to
            None.
        create_demo (bool): Write a missing demo set at a ``data_root``
            other than the default. Defaults to False.
        **kwargs: Passed to :class:`MultiModalReIDDataset` (``split``,
            ``modalities``, ``pipeline``, ...).

    Raises:
        ConfigError: For ``demo_cfg`` without the demo root or
            ``create_demo``, or an unknown ``demo_cfg`` key.
    """

    MODALITY_DIRS = dict(RGB='RGB', NI='NI', TI='TI')
    SPLITS = dict(
        train=(SplitFolder('train_171'), ),
        test=(SplitFolder('test', is_query=True, is_gallery=True), ))
    NAME_PATTERN = re.compile(r'^(?P<pid>\d{6})_cam(?P<camid>\d+)')
    NAME_EXAMPLE = '000123_cam2_0_01.jpg'

    def __init__(self,
                 data_root: str = DEMO_RGBNT201.default_root,
                 demo_cfg: Optional[dict] = None,
                 create_demo: bool = False,
                 **kwargs) -> None:
        owner = type(self).__name__
        if create_demo or DEMO_RGBNT201.is_default_root(data_root):
            prepare_demo_root(DEMO_RGBNT201, data_root, owner, demo_cfg,
                              create_demo)
        elif demo_cfg:
            raise ConfigError(
                f'{owner}: demo_cfg is used only to write a demo set, at '
                f'"{DEMO_RGBNT201.default_root}" or with create_demo=True; '
                f'data_root "{data_root}" is neither')
        super().__init__(data_root=data_root, **kwargs)

    def missing_root_hint(self) -> str:
        return ('Expected the RGBNT201 layout <data_root>/{train_171,test}/'
                '{RGB,NI,TI}/; set create_demo=True to write the demo set '
                'there.')

    def list_folder(self, folder: str) -> List[FolderItem]:
        """Names present in every modality folder of ``folder``."""
        return aligned_files(
            {m: osp.join(folder, self.MODALITY_DIRS[m])
             for m in self.modalities}, type(self).__name__)

