"""MSVR310: vehicles seen by aligned RGB, near-infrared and thermal cameras."""
import os
import os.path as osp
import re
from typing import List

from featsel.registry import DATASETS
from .base import FolderItem, MultiModalReIDDataset, SplitFolder, aligned_files


@DATASETS.register_module()
class MSVR310Dataset(MultiModalReIDDataset):
    """The MSVR310 layout, one folder per vehicle::

        data_root/                      e.g. MSVR310/
            bounding_box_train/<vid>/{vis,ni,th}/<name>.jpg
            query3/<vid>/{vis,ni,th}/<name>.jpg
            bounding_box_test/<vid>/{vis,ni,th}/<name>.jpg

    Modalities ``RGB`` = ``vis``, ``NI`` = ``ni``, ``TI`` = ``th``. In
    ``<name>`` characters 0-3 are the vehicle id (``pid``), 6-8 the scene
    (``sceneid``) and 11 the camera (``camid``, already counted from 0),
    e.g. ``0012_s003_v5_001.jpg``. ``'test'`` = ``query3`` (queries) +
    ``bounding_box_test`` (gallery). MSVR310's protocol drops, per query,
    the gallery items of its identity **and scene** (not camera), so the
    samples carry ``sceneid`` for the metric.

    Args:
        **kwargs: Passed to :class:`MultiModalReIDDataset`.
    """

    MODALITY_DIRS = dict(RGB='vis', NI='ni', TI='th')
    SPLITS = dict(
        train=(SplitFolder('bounding_box_train'), ),
        test=(SplitFolder('query3', is_query=True),
              SplitFolder('bounding_box_test', is_gallery=True)))
    NAME_PATTERN = re.compile(
        r'^(?P<pid>\d{4})..(?P<sceneid>\d{3})..(?P<camid>\d)')
    NAME_EXAMPLE = '0012_s003_v5_001.jpg'
    FIRST_CAMERA = 0

    def list_folder(self, folder: str) -> List[FolderItem]:
        """Names present in every modality folder of each vehicle folder."""
        items = []
        for vid in sorted(os.listdir(folder)):
            vid_dir = osp.join(folder, vid)
            if osp.isdir(vid_dir):
                items += aligned_files(
                    {m: osp.join(vid_dir, self.MODALITY_DIRS[m])
                     for m in self.modalities}, type(self).__name__)
        return items
