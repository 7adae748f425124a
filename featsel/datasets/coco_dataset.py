"""mmdet's COCO data set with its input checked when it is loaded."""
import json
import logging
from collections import Counter
from typing import Dict, List, Union

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from featsel.utils import DataError
from .checks import require_dir, require_file, require_files, require_samples

# Why mmdet's CocoDataset drops an annotation.
_IGNORED = 'marked ignore'
_OUTSIDE = 'a box outside its image'
_ZERO = 'a zero-width or zero-height box (or area <= 0)'
_UNKNOWN = 'an unknown category_id'
_UNCONFIGURED = 'a category not in metainfo.classes'


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """mmdet's ``CocoDataset`` that checks its files and reports what it
    drops.

    Registered in mmdet's ``DATASETS`` (configs with
    ``default_scope='mmdet'`` name it ``type='CheckedCocoDataset'``); it
    reads, parses and filters exactly as ``CocoDataset`` does. When the
    annotations are loaded, a :class:`~featsel.utils.DataError` names the
    file at fault if

    * ``data_root`` or ``ann_file`` is missing, or ``ann_file`` is not valid
      JSON (e.g. truncated) or not a COCO annotation file;
    * no class of ``metainfo['classes']`` is a category of ``ann_file``
      (the message lists both);
    * an image it lists is missing (local files only);
    * no image is left after filtering (``filter_cfg``), with the reason.

    Annotations that ``CocoDataset`` drops (an unknown ``category_id``, a
    category not configured, a zero-width or zero-height box, a box outside
    its image, ``ignore``) are counted by reason and reported in one
    warning per data set.

    Example config::

        dict(type='CheckedCocoDataset', data_root='data/coco/',
             ann_file='annotations/instances_train.json',
             data_prefix=dict(img='train/'),
             filter_cfg=dict(filter_empty_gt=False), pipeline=[...])

    Args:
        *args, **kwargs: Those of :class:`mmdet.datasets.CocoDataset`.
    """

    def load_data_list(self) -> List[dict]:
        """Load as ``CocoDataset`` does, with the checks above.

        Returns:
            list[dict]: One dict per image.
        """
        local = self.backend_args is None
        if local:
            if self.data_root:
                require_dir(self.data_root, 'data_root')
            require_file(self.ann_file, 'ann_file')
        self._dropped: Counter = Counter()
        self._unknown_ids: set = set()
        self._num_anns = 0
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as err:
            raise DataError(
                f'ann_file "{self.ann_file}" is not valid JSON (line '
                f'{err.lineno}, column {err.colno}: {err.msg}); the file may '
                'be truncated') from None
        except (AssertionError, KeyError, TypeError) as err:
            raise DataError(
                f'ann_file "{self.ann_file}" is not a COCO annotation file '
                f'({type(err).__name__}: {err})') from None
        if not self.cat_ids:
            raise DataError(self._no_class_message())
        self._report_dropped()
        if local:
            require_files([info['img_path'] for info in data_list], 'images',
                          f'ann_file "{self.ann_file}"')
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Parse as ``CocoDataset`` does and count the dropped annotations.

        Args:
            raw_data_info (dict): ``raw_img_info`` and ``raw_ann_info``.

        Returns:
            dict: The parsed image with its ``instances``.
        """
        info = super().parse_data_info(raw_data_info)
        anns = raw_data_info['raw_ann_info']
        self._num_anns += len(anns)
        if len(info['instances']) < len(anns):
            for ann in anns:
                reason = self._drop_reason(ann,
                                           raw_data_info['raw_img_info'])
                if reason:
                    self._dropped[reason] += 1
                if reason == _UNKNOWN:
                    self._unknown_ids.add(ann['category_id'])
        return info

    def filter_data(self) -> List[dict]:
        """Filter as ``CocoDataset`` does; an empty result is an error.

        Returns:
            list[dict]: The images left.
        """
        data_list = super().filter_data()
        filter_cfg = self.filter_cfg or {}
        if not self.data_list:
            reason = 'it lists no image'
        elif filter_cfg.get('filter_empty_gt', False):
            reason = (f'none of its {len(self.data_list)} images holds an '
                      'annotation of the classes '
                      f'{tuple(self.metainfo["classes"])}, and '
                      'filter_cfg.filter_empty_gt=True drops images without '
                      'one')
        else:
            reason = (f'none of its {len(self.data_list)} images is '
                      f'filter_cfg.min_size={filter_cfg.get("min_size")} '
                      'pixels or more on its shorter side')
        require_samples(data_list,
                        f'{type(self).__name__} "{self.ann_file}"', reason)
        return data_list

    def _drop_reason(self, ann: dict, img: dict) -> str:
        """Why ``CocoDataset`` drops ``ann`` ('' if it keeps it)."""
        x, y, w, h = ann['bbox']
        inter_w = min(x + w, img['width']) - max(x, 0)
        inter_h = min(y + h, img['height']) - max(y, 0)
        if ann.get('ignore', False):
            return _IGNORED
        # a zero-width box has no overlap with the image either: name the
        # more specific reason first
        if ann['area'] <= 0 or w < 1 or h < 1:
            return _ZERO
        if inter_w <= 0 or inter_h <= 0:
            return _OUTSIDE
        if ann['category_id'] not in self.cat_ids:
            # the COCO api is alive while the images are parsed
            return (_UNCONFIGURED
                    if ann['category_id'] in self.coco.cats else _UNKNOWN)
        return ''

    def _report_dropped(self) -> None:
        """One warning line: how many annotations were dropped and why."""
        if not self._dropped:
            return
        parts = []
        for reason, count in self._dropped.most_common():
            part = f'{count} with {reason}'
            if reason == _UNKNOWN:
                part += f' {sorted(self._unknown_ids)}'
            parts.append(part)
        print_log(
            f'{type(self).__name__} "{self.ann_file}": dropped '
            f'{sum(self._dropped.values())} of {self._num_anns} '
            f'annotations: {"; ".join(parts)}',
            logger='current',
            level=logging.WARNING)

    def _no_class_message(self) -> str:
        with open(self.ann_file) as f:
            categories: Dict[int, str] = {
                cat['id']: cat['name']
                for cat in json.load(f).get('categories', [])
            }
        found = tuple(categories.values())
        return (f'none of the configured classes '
                f'{tuple(self.metainfo["classes"])} (metainfo.classes) is a '
                f'category of ann_file "{self.ann_file}", which holds '
                f'{found or "no category"}')
