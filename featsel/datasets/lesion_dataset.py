"""Binary lesion segmentation data set in the mmseg directory layout."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset

from featsel.registry import DATASETS
from .checks import require_dir, require_file, require_files, require_samples
from .demo_lesions import DEMO_LESIONS


@DATASETS.register_module()
class LesionSegDataset(BaseSegDataset):
    """Binary lesion segmentation: classes ``('background', 'lesion')``.

    Layout (that of the demo set, see
    :class:`~featsel.datasets.DemoLesionSegDataset`)::

        data_root/
            img_dir/{train,val}/<id>.png   RGB images
            ann_dir/{train,val}/<id>.png   uint8 masks with values {0, 1}
            splits/{train,val}.txt         ids, one per line

    With ``ann_file=''`` every image in the image folder is a sample.
    Blank lines of a split file are ignored. When the samples are listed,
    every image and mask must exist and at least one sample must be left;
    otherwise a :class:`~featsel.utils.DataError` names the folder or file
    at fault before training starts.

    Example config::

        dict(type='LesionSegDataset', data_root='data/my_lesions',
             ann_file='splits/train.txt',
             data_prefix=dict(img_path='img_dir/train',
                              seg_map_path='ann_dir/train'),
             pipeline=[...])

    Args:
        img_suffix (str): Image file suffix. Defaults to '.png'.
        seg_map_suffix (str): Mask file suffix. Defaults to '.png'.
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset`.

    Raises:
        DataError: When the image folder, the mask folder, the split file,
            a listed image or mask is missing, or no sample is left; the
            message names the path.
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
        """Check the folders and the split file, list the samples as mmseg
        does (without blank split lines), then check every listed file.

        Returns:
            list[dict]: One dict per sample with ``img_path`` and
            ``seg_map_path``.
        """
        img_dir = self.data_prefix.get('img_path') or ''
        ann_dir = self.data_prefix.get('seg_map_path')
        hint = ''
        if DEMO_LESIONS.is_default_root(self.data_root or ''):
            hint = (f'`{DEMO_LESIONS.command.format(root=self.data_root)}` '
                    f'writes the {DEMO_LESIONS.name} there.')
        require_dir(img_dir, 'img_dir (data_prefix.img_path)', hint)
        if ann_dir:
            require_dir(ann_dir, 'ann_dir (data_prefix.seg_map_path)', hint)
        if self.ann_file:
            require_file(
                self.ann_file, 'split file (ann_file)', hint or
                "Set ann_file='' to use every image in img_dir as a sample.")
            listed_in = f'split file "{self.ann_file}"'
            empty = f'{listed_in} lists no image id'
        else:
            listed_in = f'img_dir "{img_dir}"'
            empty = (f'{listed_in} holds no file ending in '
                     f'"{self.img_suffix}" (img_suffix)')
        # a blank split line names the file '' + img_suffix
        blank = osp.join(img_dir, self.img_suffix)
        data_list = [
            info for info in super().load_data_list()
            if info['img_path'] != blank
        ]
        require_samples(data_list, f'{type(self).__name__} "{img_dir}"',
                        empty)
        require_files([info['img_path'] for info in data_list], 'images',
                      listed_in)
        if ann_dir:
            require_files([info['seg_map_path'] for info in data_list],
                          'masks', listed_in)
        return data_list
