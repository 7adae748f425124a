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
