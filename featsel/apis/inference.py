"""Build a model from a config and a checkpoint, and predict on images.

The two helpers OpenMMLab users know from ``mmseg.apis`` and
``mmdet.apis``, for every featsel config: the multi-task segmentors
(``default_scope='featsel'``) and the detectors on mmdet
(``default_scope='mmdet'``, ``custom_imports=['featsel.det']``).

Inference runs the config's test pipeline (``test_dataloader.dataset
.pipeline``) without the transforms that need ground truth:

* annotation loaders (subclasses of mmcv's ``LoadAnnotations``: mmseg's,
  mmdet's and featsel's checked one) and the target generators
  (``GenerateSDF``, ``GenerateBoundary``) are dropped;
* ``PackMultiTaskInputs``, which packs one target per task, becomes mmseg's
  ``PackSegInputs`` with the same ``meta_keys`` (the image and its metadata
  alone); mmdet's ``PackDetInputs`` packs only what is present and stays;
* for an array input, the image loader (a subclass of mmcv's
  ``LoadImageFromFile``) becomes ``LoadImageFromNDArray`` with the same
  arguments.

Every other transform (resizing, normalising steps) is kept, so an image is
prepared exactly as in ``tools/test.py``.
"""
import copy
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import Compose, LoadAnnotations, LoadImageFromFile
from mmengine.config import Config
from mmengine.registry import MODELS, TRANSFORMS, DefaultScope
from mmengine.runner.checkpoint import load_state_dict
from mmengine.structures import BaseDataElement
from mmengine.utils import import_modules_from_strings
from mmseg.datasets.transforms import LoadImageFromNDArray, PackSegInputs
from torch import nn

from ..datasets.transforms import (GenerateBoundary, GenerateSDF,
                                   PackMultiTaskInputs)

from ..engine.compat import load_local_checkpoint
from ..engine.hooks.checkpoint_guards import (compare_state_dicts,
                                              describe_misfit)
from ..utils.cli import check_option_types, read_config
from ..utils.errors import CheckpointError, ConfigError, DataError

ConfigType = Union[str, os.PathLike, Config]
ImageType = Union[str, os.PathLike, np.ndarray]
#: the scope of featsel's own models, for a config that names none
_DEFAULT_SCOPE = 'featsel'


def init_model(config: ConfigType,
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the model of a config, load its weights, ready to predict.

    The model is built under the config's ``default_scope`` after its
    ``custom_imports`` are imported, as the runner builds it. The checkpoint
    is read weights-only (:func:`featsel.engine.compat
    .load_local_checkpoint`; ``FEATSEL_TRUST_CHECKPOINTS=1`` allows full
    unpickling) and must fit the model exactly. Without a checkpoint the
    weights are PyTorch's default initialisation.

    Args:
        config (str | PathLike | Config): Config file or loaded config (not
            modified; a copy is kept).
        checkpoint (str, optional): Checkpoint file, mmengine's
            ``{'state_dict': ..., 'meta': ...}`` or a bare state dict; its
            ``meta['dataset_meta']`` (class names, palette) becomes
            ``model.dataset_meta``.
        device (str | torch.device): Where the model goes. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config,
            dotted keys as ``--cfg-options`` takes them
            (``{'model.num_queries': 100}``).

    Returns:
        nn.Module: The model in eval mode on ``device``, with the config as
        ``model.cfg``.

    Raises:
        FileNotFoundError: The config or checkpoint file does not exist.
        ConfigError: The config cannot be read, or an override has the
            wrong type.
        CheckpointError: The checkpoint is unreadable, needs full
            unpickling and is not trusted, or does not fit the model; the
            message names the file.
    """
    cfg = _load_config(config, cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope(_scope(cfg)):
        model = MODELS.build(cfg.model)
    if checkpoint is not None:
        _load_weights(model, checkpoint)
    model.cfg = cfg
    return model.to(device).eval()


def inference_model(
    model: nn.Module, imgs: Union[ImageType, Sequence[ImageType]]
) -> Union[BaseDataElement, List[BaseDataElement]]:
    """Predict on one image or a list of images.

    Each image goes through the inference pipeline of ``model.cfg`` (the
    test pipeline without ground truth, see the module docstring) and
    ``model.test_step`` on its own, so images of different sizes are not
    padded to a common size.

    Args:
        model (nn.Module): A model from :func:`init_model`.
        imgs (str | PathLike | np.ndarray | Sequence): An image file, an
            (H, W, 3) BGR uint8 array (as ``cv2.imread`` returns), or a list
            or tuple of these.

    Returns:
        BaseDataElement | list[BaseDataElement]: The data sample of each
        image (one sample for one image, a list for a list): segmentors set
        ``pred_<task>`` for every task at the image's size, detectors
        ``pred_instances`` (``bboxes`` (N, 4) in the image's pixels,
        ``scores`` (N, ), ``labels`` (N, )).

    Raises:
        ConfigError: The model has no ``cfg`` or the config no test
            pipeline.
        DataError: An image file does not exist or cannot be read, or an
            array is not (H, W, 3) uint8; the message names it.
    """
    cfg = getattr(model, 'cfg', None)
    if not isinstance(cfg, Config):
        raise ConfigError('inference_model needs model.cfg, the config the '
                          'model was built from: build it with init_model')
    single = not isinstance(imgs, (list, tuple))
    images = [imgs] if single else list(imgs)
    inputs = [_image_results(img) for img in images]
    pipelines, samples = {}, []
    for results in inputs:
        from_array = 'img' in results
        if from_array not in pipelines:
            pipelines[from_array] = build_inference_pipeline(cfg, from_array)
        data = pipelines[from_array](results)
        batch = dict(inputs=[data['inputs']],
                     data_samples=[data['data_samples']])
        with torch.no_grad():
            samples.append(model.test_step(batch)[0])
    return samples[0] if single else samples


def build_inference_pipeline(cfg: Config, from_array: bool) -> Compose:
    """The test pipeline of ``cfg`` without the transforms that need ground
    truth (the rule is in the module docstring), built under the config's
    ``default_scope``.

    Args:
        cfg (Config): A full config with ``test_dataloader.dataset
            .pipeline`` (or the pipeline of the dataset it wraps).
        from_array (bool): Load the image from ``results['img']`` (an
            array) instead of ``results['img_path']``.

    Returns:
        Compose: Takes ``dict(img_path=...)`` or ``dict(img=...)`` and
        returns ``dict(inputs=..., data_samples=...)``.
    """
    transforms = []
    for t_cfg in _test_pipeline_cfg(cfg):
        with DefaultScope.overwrite_default_scope(_scope(cfg)):
            transform = TRANSFORMS.build(copy.deepcopy(t_cfg))
        if isinstance(transform,
                      (LoadAnnotations, GenerateSDF, GenerateBoundary)):
            continue
        if isinstance(transform, PackMultiTaskInputs):
            transform = PackSegInputs(meta_keys=transform.meta_keys)
        elif from_array and isinstance(transform, LoadImageFromFile):
            # mmdet's LoadImageFromNDArray is the same transform
            args = {k: v for k, v in t_cfg.items() if k != 'type'}
            transform = LoadImageFromNDArray(**args)
        transforms.append(transform)
    return Compose(transforms)


def _load_config(config: ConfigType, cfg_options: Optional[dict]) -> Config:
    if isinstance(config, (str, os.PathLike)):
        cfg = read_config(os.fspath(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise ConfigError('config must be a file path or an mmengine '
                          f'Config, got {type(config).__name__}')
    if cfg_options:
        check_option_types(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise ConfigError(f'config "{cfg.filename}" has no model')
    return cfg


def _scope(cfg: Config) -> str:
    return cfg.get('default_scope') or _DEFAULT_SCOPE


def _test_pipeline_cfg(cfg: Config) -> list:
    """``test_dataloader.dataset.pipeline``, looking through dataset
    wrappers (``dataset.dataset``)."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset['dataset']
    if 'pipeline' not in dataset:
        raise ConfigError(
            f'config "{cfg.filename}" has no test_dataloader.dataset.pipeline;'
            ' inference prepares images with the test pipeline')
    return dataset['pipeline']


def _load_weights(model: nn.Module, filename: str) -> None:
    """Load ``filename`` into ``model``; it must fit exactly."""
    checkpoint = load_local_checkpoint(filename, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint)
    diff = compare_state_dicts(model.state_dict(), state)
    if any(diff.values()):
        raise CheckpointError(f'{describe_misfit(filename, diff)} of the '
                              'config')
    # a model saved from inside DistributedDataParallel
    state = {k.removeprefix('module.'): v for k, v in state.items()}
    load_state_dict(model, state, strict=True)
    meta = checkpoint.get('meta') or {}
    if 'dataset_meta' in meta:
        model.dataset_meta = meta['dataset_meta']


def _image_results(img: ImageType) -> dict:
    """The pipeline's input for one image, after checking it."""
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise DataError(
                f'image array has shape {img.shape} and dtype {img.dtype}; '
                'inference_model takes (H, W, 3) BGR uint8 arrays')
        return dict(img=img)
    if isinstance(img, (str, os.PathLike)):
        path = os.fspath(img)
        if not osp.isfile(path):
            raise DataError(f'image "{path}" does not exist')
        return dict(img_path=path)
    raise DataError('an image is a file path or an (H, W, 3) BGR uint8 '
                    f'array, got {type(img).__name__}')
