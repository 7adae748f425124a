"""Synthetic batches, one maker per system, so no data on disk is needed.

A maker returns a batch as a dataloader gives it, ``dict(inputs,
data_samples)``, with random uint8 images of ``shape`` and random targets
of the kind the model trains on; ``model.train_step`` and
``model.test_step`` take it as they are. Makers are looked up by the
model's class (and its base classes), so a new system adds its maker here
with :func:`register_input_maker` and every tool can measure it::

    @register_input_maker('MultiModalReID')
    def reid_batch(model, batch_size, shape, generator): ...
"""
from typing import Callable, Dict, Sequence, Tuple

import torch
from torch import nn

Shape = Tuple[int, int]
InputMaker = Callable[[nn.Module, int, Shape, torch.Generator], dict]

#: model class name -> maker of its synthetic batches
INPUT_MAKERS: Dict[str, InputMaker] = {}


def register_input_maker(*class_names: str) -> Callable[[InputMaker],
                                                        InputMaker]:
    """Register a maker for models of ``class_names`` (and subclasses)."""

    def register(maker: InputMaker) -> InputMaker:
        for name in class_names:
            INPUT_MAKERS[name] = maker
        return maker

    return register


def synthetic_batch(model: nn.Module, batch_size: int, shape: Sequence[int],
                    seed: int = 0) -> dict:
    """A random batch for ``model``, as its dataloader would give it.

    Args:
        model (nn.Module): A model whose class (or a base class) has a
            registered maker.
        batch_size (int): Images in the batch.
        shape (Sequence[int]): Image size ``(H, W)``.
        seed (int): Seed of the images and targets.

    Returns:
        dict: ``inputs`` (list of (3, H, W) uint8 tensors) and
        ``data_samples`` (list of the system's data samples with targets).

    Raises:
        TypeError: No maker is registered for the model's class.
    """
    for cls in type(model).__mro__:
        if cls.__name__ in INPUT_MAKERS:
            generator = torch.Generator().manual_seed(seed)
            return INPUT_MAKERS[cls.__name__](model, batch_size,
                                              tuple(shape), generator)
    raise TypeError(
        f'no synthetic input maker for {type(model).__name__}; known: '
        f'{sorted(INPUT_MAKERS)} (register one in featsel/analysis/inputs.py)')


def random_images(batch_size: int, shape: Shape,
                  generator: torch.Generator) -> list:
    """``batch_size`` random uint8 images (3, H, W)."""
    return [torch.randint(256, (3, *shape), generator=generator,
                          dtype=torch.uint8) for _ in range(batch_size)]


# ---------------------------------------------------------------------- #
# S1: multi-task segmentor
# ---------------------------------------------------------------------- #
@register_input_maker('MultiTaskSegmentor')
def multitask_batch(model: nn.Module, batch_size: int, shape: Shape,
                    generator: torch.Generator) -> dict:
    """Images and a ``gt_<task>`` per task of ``model.tasks`` per sample,
    made by the task's kind (``TaskSpec.synthetic_target``: random label
    rectangles turned into a mask, boundary band or signed distance)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    inputs = random_images(batch_size, shape, generator)
    samples = []
    for _ in inputs:
        sample = SegDataSample(metainfo=dict(
            img_shape=shape, ori_shape=shape, pad_shape=shape))
        sample.set_data({
            f'gt_{name}': PixelData(
                data=task.synthetic_target(shape, generator))
            for name, task in model.tasks.items()
        })
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------------- #
# S4: detector
# ---------------------------------------------------------------------- #
@register_input_maker('RTDETR')
def detection_batch(model: nn.Module, batch_size: int, shape: Shape,
                    generator: torch.Generator,
                    boxes_per_image: int = 4) -> dict:
    """Images with ``boxes_per_image`` random boxes of random classes
    (below ``model.bbox_head.num_classes``); the data preprocessor pads
    them as it pads real images."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    h, w = shape
    num_classes = model.bbox_head.num_classes
    inputs = random_images(batch_size, shape, generator)
    samples = []
    for _ in inputs:
        corners = torch.rand(boxes_per_image, 2, 2, generator=generator)
        corners = corners * torch.tensor([w, h])
        boxes = torch.cat([corners.min(1).values,
                           corners.max(1).values + 1], dim=1)
        sample = DetDataSample(metainfo=dict(
            img_shape=shape, ori_shape=shape, scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=boxes,
            labels=torch.randint(num_classes, (boxes_per_image, ),
                                 generator=generator))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------------- #
# S2: multi-modal re-identification
# ---------------------------------------------------------------------- #
@register_input_maker('MultiModalReID')
def reid_batch(model: nn.Module, batch_size: int, shape: Shape,
               generator: torch.Generator) -> dict:
    """Random ``(3M, H, W)`` images (M = ``len(model.modalities)``) with
    identities ``i // 2`` (pairs, so the batch-hard triplet loss has a
    positive and a negative for every sample; ``batch_size >= 4``) below
    the model's number of classes."""
    from mmdet.structures import ReIDDataSample

    channels = 3 * len(model.modalities)
    num_classes = model.heads['global'].num_classes
    samples = []
    inputs = []
    for i in range(batch_size):
        inputs.append(torch.randint(256, (channels, *shape),
                                    generator=generator, dtype=torch.uint8))
        sample = ReIDDataSample(metainfo=dict(
            img_shape=shape, ori_shape=shape,
            modalities=tuple(model.modalities)))
        sample.set_gt_label((i // 2) % num_classes)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------------- #
# S3: restoration backbone
# ---------------------------------------------------------------------- #
def smooth_scene(shape: Shape, generator: torch.Generator) -> torch.Tensor:
    """A clean synthetic scene (3, H, W) in [0, 1]: a smooth colour field
    (random 8 x 8 grid, bilinear) with a few flat rectangles (edges)."""
    import torch.nn.functional as F

    h, w = shape
    scene = F.interpolate(torch.rand(1, 3, 8, 8, generator=generator),
                          size=shape, mode='bilinear',
                          align_corners=False)[0]
    for _ in range(6):
        y0, x0 = (int(torch.randint(n, (1, ), generator=generator))
                  for n in (h, w))
        y1 = y0 + 1 + int(torch.randint(max(1, h // 3), (1, ),
                                        generator=generator))
        x1 = x0 + 1 + int(torch.randint(max(1, w // 3), (1, ),
                                        generator=generator))
        scene[:, y0:y1, x0:x1] = torch.rand(3, 1, 1, generator=generator)
    return scene


@register_input_maker('GlobalLocalRestorer')
def restoration_batch(model: nn.Module, batch_size: int, shape: Shape,
                      generator: torch.Generator) -> dict:
    """Hazy images made from clean scenes (:func:`smooth_scene`) by the
    atmospheric scattering model ``I = J t + A (1 - t)``, ``t =
    exp(-beta d)`` with depth ``d`` rising from 0 (bottom) to 1 (top),
    ``beta`` in [0.5, 2] and ``A`` in [0.7, 1]; the clean scene is the
    ``gt_img`` of each data sample (uint8 (3, H, W), like the input)."""
    from mmengine.structures import BaseDataElement, PixelData

    depth = torch.linspace(1, 0, shape[0]).view(1, -1, 1)
    inputs, samples = [], []
    for _ in range(batch_size):
        clean = smooth_scene(shape, generator)
        beta = 0.5 + 1.5 * torch.rand(1, generator=generator)
        light = 0.7 + 0.3 * torch.rand(1, generator=generator)
        t = torch.exp(-beta * depth)
        hazy = clean * t + light * (1 - t)
        inputs.append((hazy * 255).round().to(torch.uint8))
        sample = BaseDataElement(metainfo=dict(img_shape=shape,
                                               ori_shape=shape))
        sample.gt_img = PixelData(data=(clean * 255).round().to(torch.uint8))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@register_input_maker('TaskAdaptedRestorer')
def task_restoration_batch(model: nn.Module, batch_size: int, shape: Shape,
                           generator: torch.Generator) -> dict:
    """:func:`restoration_batch` with each sample's ``task``: the model's
    first adapter task, else its first task with a loss recipe."""
    batch = restoration_batch(model, batch_size, shape, generator)
    task = (model.backbone.adapter_tasks or model.tasks)[0]
    for sample in batch['data_samples']:
        sample.set_metainfo(dict(task=task))
    return batch
