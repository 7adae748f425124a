"""The task-kind table: what each kind of dense task is, declared once.

A kind says how a task of that kind is trained (the loss form uncertainty
weighting uses, the output activation, the hard decision, the value padded
targets take), how its target is made from the label mask, how it is scored
and how it is drawn. The segmentor, the target transforms, the metric, the
visualizer and the cost harness's synthetic batches all read it; none of
them tells kinds apart by name.

A new kind is one subclass, registered::

    @register_task_kind
    class DepthKind(TaskKind):
        name = 'depth'
        loss_form = 'regression'
        ...

after which ``model.tasks.<task>.kind='depth'`` trains, scores and draws
without an edit anywhere else.
"""
from typing import Dict, Tuple, Type

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torch import Tensor

_LOSS_FORMS = ('classification', 'regression')


class TaskKind:
    """One kind of dense task. Subclasses set the class attributes and
    override what differs; instances hold no per-task state (the number of
    classes is passed in).

    Attributes:
        name (str): The ``kind`` written in ``model.tasks.<task>``.
        loss_form (str): ``'classification'`` (uncertainty weighting
            ``L / σ² + log σ``) or ``'regression'`` (``L / (2σ²) + log σ``).
        pad_value (float): Target value of padded pixels.
        multiclass (bool): Whether ``num_classes > 2`` is allowed.
        smooth (bool): Whether the map is continuous (resized bilinearly
            for drawing) rather than labels (nearest).
    """

    name: str = ''
    loss_form: str = 'classification'
    pad_value: float = 0.0
    multiclass: bool = False
    smooth: bool = False

    # -- model side ------------------------------------------------------
    def out_channels(self, num_classes: int) -> int:
        """Head output channels: one logit unless multi-class."""
        return num_classes if num_classes > 2 else 1

    def activate(self, logits: Tensor, num_classes: int) -> Tensor:
        """(B, K, H, W) logits -> probabilities (softmax, or sigmoid for one
        logit)."""
        return logits.softmax(1) if num_classes > 2 else logits.sigmoid()

    def loss_inputs(self, logits: Tensor, target: Tensor,
                    num_classes: int) -> Tuple[Tensor, Tensor]:
        """``(pred, target)`` as the task's losses take them: logits and a
        float (B, 1, H, W) target for one logit, logits (B, K, H, W) and a
        long (B, H, W) target for K classes."""
        if num_classes > 2:
            return logits, target[:, 0].long()
        return logits, target.float()

    def decide(self, logits: Tensor, num_classes: int) -> Tensor:
        """(B, K, H, W) logits -> (B, 1, H, W) hard prediction (labels)."""
        if num_classes > 2:
            return logits.argmax(1, keepdim=True)
        return (logits > 0).long()

    @property
    def has_probabilities(self) -> bool:
        """Whether predictions also carry ``prob_<task>``."""
        return self.loss_form == 'classification'

    # -- data side -------------------------------------------------------
    def make_target(self, labels: np.ndarray, **params) -> np.ndarray:
        """(H, W) target of this kind derived from the (H, W) label mask."""
        raise NotImplementedError

    def synthetic_target(self, shape: Tuple[int, int],
                         generator: torch.Generator,
                         num_classes: int = 2) -> Tensor:
        """A plausible random target (1, H, W): ``num_classes - 1`` random
        rectangles of labels ``1..num_classes - 1`` passed through
        :meth:`make_target` with its default parameters."""
        h, w = shape
        labels = np.zeros((h, w), np.int64)
        for label in range(1, num_classes):
            y0, y1 = sorted(torch.randint(h + 1, (2, ),
                                          generator=generator).tolist())
            x0, x1 = sorted(torch.randint(w + 1, (2, ),
                                          generator=generator).tolist())
            labels[y0:y1, x0:x1] = label
        return torch.from_numpy(np.ascontiguousarray(
            self.make_target(labels)[None]))

    # -- evaluation and drawing -----------------------------------------
    def score(self, pred: np.ndarray, gt: np.ndarray, num_classes: int,
              tolerance: float) -> Dict[str, float]:
        """Scores of one image, keyed by metric name.

        Args:
            pred (np.ndarray): (H, W) hard prediction.
            gt (np.ndarray): (H, W) ground truth.
            num_classes (int): Classes of the task.
            tolerance (float): Distance tolerance in pixels, for kinds
                scored by matching contours.
        """
        raise NotImplementedError

    def draw(self, image: np.ndarray, value: np.ndarray,
             num_classes: int, alpha: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB panel of a (H, W) map on a (H, W, 3) image.

        Args:
            alpha (float): Opacity of overlays drawn on the image.
        """
        raise NotImplementedError


#: kind name -> kind, the one table every consumer reads
TASK_KINDS: Dict[str, TaskKind] = {}


def register_task_kind(cls: Type[TaskKind]) -> Type[TaskKind]:
    """Class decorator adding an instance of ``cls`` to :data:`TASK_KINDS`
    under ``cls.name``."""
    if not cls.name or cls.name in TASK_KINDS:
        raise ValueError(f'task kind name {cls.name!r} is empty or taken')
    if cls.loss_form not in _LOSS_FORMS:
        raise ValueError(f'{cls.__name__}.loss_form={cls.loss_form!r}; '
                         f'choose from {_LOSS_FORMS}')
    TASK_KINDS[cls.name] = cls()
    return cls


def get_task_kind(name: str) -> TaskKind:
    """The registered kind ``name``; KeyError listing the kinds otherwise."""
    if name not in TASK_KINDS:
        raise KeyError(f'unknown task kind {name!r}; choose from '
                       f'{sorted(TASK_KINDS)}')
    return TASK_KINDS[name]


def _colormap(name: str):
    """A matplotlib colormap, imported on first use (keeps imports light)."""
    import matplotlib
    return matplotlib.colormaps[name]


# Mask colours: class 1 red as before, further classes from tab10.
_MASK_COLOUR = np.array([220, 60, 60], np.float32)
_BOUNDARY_COLOUR = np.array([255, 220, 0], np.uint8)


def class_colours(num_classes: int) -> np.ndarray:
    """(num_classes, 3) float RGB; row 0 (background) is unused."""
    tab = np.asarray(_colormap('tab10')(np.arange(num_classes) % 10))
    colours = tab[:, :3].astype(np.float32) * 255
    colours[1 % num_classes] = _MASK_COLOUR
    return colours


@register_task_kind
class MaskKind(TaskKind):
    """Binary or multi-class label mask.

    Target: the label mask itself. Scores per foreground class ``c``:
    Dice ``2|P_c ∩ G_c| / (|P_c| + |G_c|)`` and IoU ``|P_c ∩ G_c| /
    |P_c ∪ G_c|`` (1 when both are empty); ``dice``/``iou`` are their
    means over classes ``1..K-1``, ``dice_<c>``/``iou_<c>`` the per-class
    values (K > 2 only). ``dice_all_bg`` is the Dice of the all-background
    prediction, ``dice_all_fg`` (binary only) that of the all-foreground
    one. Drawn as class colours blended onto the image.
    """

    name = 'mask'
    multiclass = True

    def make_target(self, labels: np.ndarray) -> np.ndarray:
        return np.asarray(labels)

    def score(self, pred, gt, num_classes, tolerance):
        from ....evaluation.functional import dice, iou
        for name, value in (('prediction', pred), ('ground truth', gt)):
            if value.size and (value.min() < 0
                               or value.max() >= num_classes):
                raise ValueError(
                    f'{name} holds labels outside 0..{num_classes - 1} '
                    f'(found {np.unique(value)[:10].tolist()}); set the '
                    'task\'s num_classes')
        classes = range(1, num_classes)
        dices = [dice(pred == c, gt == c) for c in classes]
        ious = [iou(pred == c, gt == c) for c in classes]
        scores = dict(
            dice=float(np.mean(dices)),
            iou=float(np.mean(ious)),
            dice_all_bg=float(np.mean([dice(np.zeros_like(gt), gt == c)
                                       for c in classes])))
        if num_classes == 2:
            scores['dice_all_fg'] = dice(np.ones_like(gt), gt == 1)
        else:
            for c, d, i in zip(classes, dices, ious):
                scores[f'dice_{c}'] = d
                scores[f'iou_{c}'] = i
        return scores

    def draw(self, image, value, num_classes, alpha):
        panel = image.astype(np.float32)
        colours = class_colours(max(num_classes, 2))
        labels = value.astype(np.int64)
        fg = (labels > 0) & (labels < len(colours))
        panel[fg] = (1 - alpha) * panel[fg] + alpha * colours[labels[fg]]
        return panel.astype(np.uint8)


@register_task_kind
class BoundaryKind(TaskKind):
    """Inner boundary band of the mask, binary.

    Target: foreground pixels whose Euclidean distance to the nearest
    background pixel is at most ``width`` (pixels outside the image are not
    background; a full mask has no boundary). Scores: boundary precision,
    recall and F-score with a distance tolerance
    (:func:`featsel.evaluation.boundary_scores`). Drawn yellow on the
    dimmed image.
    """

    name = 'boundary'

    def make_target(self, labels: np.ndarray,
                    width: int = 2) -> np.ndarray:
        if width < 1:
            raise ValueError(f'width must be >= 1, got {width}')
        mask = np.asarray(labels) > 0
        if mask.all():
            return np.zeros(mask.shape, np.uint8)
        return (mask & (distance_transform_edt(mask) <= width)).astype(
            np.uint8)

    def score(self, pred, gt, num_classes, tolerance):
        from ....evaluation.functional import boundary_scores
        precision, recall, f_score = boundary_scores(pred, gt, tolerance)
        return dict(precision=precision, recall=recall, f_score=f_score)

    def draw(self, image, value, num_classes, alpha):
        panel = image // 2
        panel[value.astype(bool)] = _BOUNDARY_COLOUR
        return panel


@register_task_kind
class SDFKind(TaskKind):
    """Signed distance function of the mask, clipped and normalised.

    Target: ``clip((edt(1 - m) - edt(m)) / clip_distance, -1, 1)`` with
    ``edt`` the Euclidean distance transform: negative inside, positive
    outside; an empty mask gives +1 and a full mask -1 everywhere. Output
    ``tanh(logit)``; padded pixels are far outside (+1). Score: mean
    absolute error ``mae``. Drawn with a diverging colour map (blue inside,
    red outside, white at the contour).
    """

    name = 'sdf'
    loss_form = 'regression'
    pad_value = 1.0
    smooth = True

    def activate(self, logits, num_classes):
        return torch.tanh(logits)

    def loss_inputs(self, logits, target, num_classes):
        return torch.tanh(logits), target.float()

    def decide(self, logits, num_classes):
        return torch.tanh(logits)

    def make_target(self, labels: np.ndarray,
                    clip_distance: float = 16.0) -> np.ndarray:
        if clip_distance <= 0:
            raise ValueError(
                f'clip_distance must be positive, got {clip_distance}')
        mask = np.asarray(labels) > 0
        if not mask.any():
            return np.ones(mask.shape, np.float32)
        if mask.all():
            return -np.ones(mask.shape, np.float32)
        signed = distance_transform_edt(~mask) - distance_transform_edt(mask)
        return np.clip(signed / clip_distance, -1, 1).astype(np.float32)

    def score(self, pred, gt, num_classes, tolerance):
        from ....evaluation.functional import mean_absolute_error
        return dict(mae=mean_absolute_error(pred, gt))

    def draw(self, image, value, num_classes, alpha):
        rgba = _colormap('RdBu_r')((np.clip(value, -1, 1) + 1) / 2)
        return (rgba[..., :3] * 255).astype(np.uint8)
