"""Dense targets derived from a binary mask: signed distance and boundary.

The transforms are the pipeline's handles on the task-kind table
(:mod:`featsel.models.segmentors.multitask.task_kinds`), which holds how
each kind's target is made from the mask.
"""
import numpy as np
from mmcv.transforms import BaseTransform

from featsel.models.segmentors.multitask.task_kinds import get_task_kind
from featsel.registry import TRANSFORMS
from featsel.utils import DataError


def binary_mask(results: dict, key: str = 'gt_seg_map') -> np.ndarray:
    """Return ``results[key]`` as a bool mask after checking it is binary.

    Args:
        results (dict): Pipeline results holding ``key`` (H, W).
        key (str): Key of the mask. Defaults to 'gt_seg_map'.

    Returns:
        np.ndarray: (H, W) bool.

    Raises:
        DataError: If the mask holds values other than 0 and 1; the message
            names ``results['seg_map_path']`` and the values found.
    """
    mask = np.asarray(results[key])
    values = np.unique(mask)
    if not np.isin(values, (0, 1)).all():
        shown = values[:10].tolist()
        more = ', ...' if values.size > 10 else ''
        raise DataError(
            f'{key} of {results.get("seg_map_path", "<no seg_map_path>")} '
            f'must be binary {{0, 1}}, found values {shown}{more}. Binarise '
            'the annotation or drop transforms that pad it with another '
            'value.')
    return mask.astype(bool)


@TRANSFORMS.register_module()
class GenerateSDF(BaseTransform):
    """Clipped, normalised signed distance function of the binary mask
    (the target of the ``'sdf'`` task kind).

    ``sdf = clip((edt(1 - m) - edt(m)) / clip_distance, -1, 1)``, where
    ``edt(x)`` is each non-zero pixel's Euclidean distance to the nearest
    zero of ``x``: negative inside, positive outside, changing sign at the
    contour. An empty mask gives +1 and a full mask -1 everywhere.

    Required keys: ``gt_seg_map`` (H, W) binary. Added keys: ``gt_sdf_map``
    (H, W) float32 in [-1, 1].

    Args:
        clip_distance (float): Distance in pixels that maps to ±1.
            Defaults to 16.0.
    """

    def __init__(self, clip_distance: float = 16.0) -> None:
        if clip_distance <= 0:
            raise ValueError(
                f'clip_distance must be positive, got {clip_distance}')
        self.clip_distance = clip_distance

    def transform(self, results: dict) -> dict:
        results['gt_sdf_map'] = get_task_kind('sdf').make_target(
            binary_mask(results), clip_distance=self.clip_distance)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(clip_distance={self.clip_distance})'


@TRANSFORMS.register_module()
class GenerateBoundary(BaseTransform):
    """Inner boundary band of the binary mask (the target of the
    ``'boundary'`` task kind).

    A mask pixel is a boundary pixel when its Euclidean distance to the
    nearest background pixel is at most ``width``. Pixels outside the image
    do not count as background, so a mask touching the border has no
    boundary there. Empty and full masks give all zeros.

    Required keys: ``gt_seg_map`` (H, W) binary. Added keys:
    ``gt_boundary_map`` (H, W) uint8 {0, 1}.

    Args:
        width (int): Band width in pixels. Defaults to 2.
    """

    def __init__(self, width: int = 2) -> None:
        if width < 1:
            raise ValueError(f'width must be >= 1, got {width}')
        self.width = width

    def transform(self, results: dict) -> dict:
        results['gt_boundary_map'] = get_task_kind('boundary').make_target(
            binary_mask(results), width=self.width)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(width={self.width})'
