"""Binary lesion segmentation data set in the mmseg directory layout."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset

from featsel.registry import DATASETS

DEMO_COMMAND = 'python tools/misc/make_demo_data.py'


@DATASETS.register_module()
class LesionSegDataset(BaseSegDataset):
    """Binary lesion segmentation: classes ``('background', 'lesion')``.

    Layout (the demo set written by ``tools/misc/make_demo_data.py``)::

        data_root/
            img_dir/{train,val}/<id>.png   RGB images
            ann_dir/{train,val}/<id>.png   uint8 masks with values {0, 1}
            splits/{train,val}.txt         ids, one per line

    Example config::

        dict(type='LesionSegDataset', data_root='data/demo_lesions',
             ann_file='splits/train.txt',
             data_prefix=dict(img_path='img_dir/train',
                              seg_map_path='ann_dir/train'),
             pipeline=[...])

    Args:
        img_suffix (str): Image file suffix. Defaults to '.png'.
        seg_map_suffix (str): Mask file suffix. Defaults to '.png'.
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset`.

    Raises:
        FileNotFoundError: When the image directory, the mask directory or
            the split file is missing; the message names the path.
    """

    METAINFO = dict(
        classes=('background', 'lesion'),
        palette=[[0, 0, 0], [220, 60, 60]])

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Check that the paths exist, then list the samples as mmseg does.

        Returns:
            list[dict]: One dict per sample with ``img_path`` and
            ``seg_map_path``.
        """
        for key in ('img_path', 'seg_map_path'):
            path = self.data_prefix.get(key)
            if path and not osp.isdir(path):
                raise FileNotFoundError(self._missing_message(path))
        if self.ann_file and not osp.exists(self.ann_file):
            raise FileNotFoundError(self._missing_message(self.ann_file))
        return super().load_data_list()

    @staticmethod
    def _missing_message(path: str) -> str:
        return (f'{path} does not exist. `{DEMO_COMMAND}` creates the demo '
                'lesion set under data/demo_lesions.')
