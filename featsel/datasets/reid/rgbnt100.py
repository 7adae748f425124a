"""RGBNT100: vehicles, the three modalities of a sample side by side in one
file."""
import os
import os.path as osp
import re
from typing import List

from featsel.registry import DATASETS
from .base import IMG_SUFFIXES, FolderItem, MultiModalReIDDataset, SplitFolder


@DATASETS.register_module()
class RGBNT100Dataset(MultiModalReIDDataset):
    """The RGBNT100 layout, one file per sample::

        data_root/                      e.g. RGBNT100/rgbir/
            bounding_box_train/<name>.jpg
            query/<name>.jpg
            bounding_box_test/<name>.jpg

    Each file holds the sample's RGB, NI and TI images side by side, left to
    right, in three tiles of equal width (768 x 128 pixels: three 256 x 128
    tiles). ``<name> = <pid>_c<C>_<anything>.jpg``, ``camid = C - 1``.
    ``'test'`` = ``query`` (queries) + ``bounding_box_test`` (gallery),
    Market-1501 protocol. The samples carry ``img_tiles`` (modality ->
    ``(tile index, number of tiles)``), which
    :class:`~featsel.datasets.transforms.LoadMultiModalImages` cuts.

    Args:
        **kwargs: Passed to :class:`MultiModalReIDDataset`.
    """

    MODALITY_DIRS = dict(RGB='RGB', NI='NI', TI='TI')
    SPLITS = dict(
        train=(SplitFolder('bounding_box_train'), ),
        test=(SplitFolder('query', is_query=True),
              SplitFolder('bounding_box_test', is_gallery=True)))
    NAME_PATTERN = re.compile(r'^(?P<pid>\d+)_c(?P<camid>\d+)')
    NAME_EXAMPLE = '0042_c3_0017.jpg'

    def list_folder(self, folder: str) -> List[FolderItem]:
        """Every image file of ``folder``, one tile per modality."""
        order = tuple(self.MODALITY_DIRS)
        tiles = {m: (order.index(m), len(order)) for m in self.modalities}
        return [(name, {m: osp.join(folder, name)
                        for m in self.modalities}, dict(img_tiles=tiles))
                for name in sorted(os.listdir(folder))
                if name.lower().endswith(IMG_SUFFIXES)]
