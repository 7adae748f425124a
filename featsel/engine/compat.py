"""Fixes for running mmengine 0.10.7 on torch >= 2.6, on CPU-only hosts, and
through crashes.

Three weaknesses of the pinned OpenMMLab stack are mended here, once, for
every featsel entry point:

* ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and the
  checkpoints mmengine writes pickle its ``HistoryBuffer`` (message hub) and
  numpy scalars, so ``--resume`` raises ``UnpicklingError``.
  :func:`load_local_checkpoint` tries the safe loader first (with numpy's
  array types allow-listed) and only falls back to full unpickling, with a
  warning naming the file, when the file holds other objects.
* mmengine's ``init_dist`` calls ``torch.cuda.set_device``, which fails on a
  machine without CUDA. :func:`init_cpu_distributed` starts a gloo process
  group first (the runner then skips its own start) and makes DDP wrap the CPU
  model without ``device_ids``.
* mmengine writes checkpoints and ``last_checkpoint`` in place, so a run
  killed while saving leaves a truncated checkpoint (or an empty
  ``last_checkpoint``) that ``--resume`` then trips over.
  :class:`AtomicLocalBackend` writes to a temporary file and renames it.
"""
import os
import os.path as osp
import pickle
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.errors import ConfigError
from ..utils.io import write_bytes_atomic

try:  # numpy >= 2 renamed numpy.core to numpy._core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover
    from numpy.core import multiarray as _multiarray

_SAFE_NUMPY_GLOBALS = [np.ndarray, np.dtype, _multiarray._reconstruct,
                       _multiarray.scalar] + [
                           type(np.dtype(t)) for t in
                           ('bool', 'int32', 'int64', 'float16', 'float32',
                            'float64')]
_applied = False


def load_local_checkpoint(
        filename: str,
        map_location: Optional[Union[str, torch.device]] = None) -> dict:
    """Load a checkpoint from a local path on any torch version.

    Args:
        filename (str): Path of the checkpoint file.
        map_location (str | torch.device, optional): As in :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file "{filename}" does not exist')
    try:
        with torch.serialization.safe_globals(_SAFE_NUMPY_GLOBALS):
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError:
        print_log(
            f'"{filename}" holds more than tensors (e.g. the message hub of '
            'an mmengine checkpoint); loading it with weights_only=False. '
            'Only load checkpoints you trust.',
            logger='current')
        return torch.load(filename, map_location=map_location,
                          weights_only=False)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with writes that are all or nothing.

    Data goes to a temporary file beside the target, which then replaces the
    target in one ``os.replace``: readers (and a resumed run) see the old
    file or the new one, never a truncated one.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        write_bytes_atomic(obj, str(filepath))

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


def apply_compat_fixes() -> None:
    """Install the safe checkpoint loader and the atomic local backend.

    Idempotent; called when :mod:`featsel` is imported.
    """
    global _applied
    if _applied:
        return
    CheckpointLoader.register_scheme(prefixes='', force=True)(
        lambda filename, map_location=None: load_local_checkpoint(
            filename, map_location))
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    _applied = True


def init_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Start distributed training on hosts without CUDA with gloo.

    Does nothing when ``launcher`` is ``'none'`` or CUDA is available, so GPU
    clusters keep mmengine's own start (NCCL by default).

    Args:
        cfg (Config): The full config; ``env_cfg.dist_cfg.backend`` and
            ``model_wrapper_cfg`` are updated in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ConfigError(
            f'launcher "{launcher}" needs CUDA; on a CPU-only host start the '
            'processes with torchrun (tools/dist_train.sh, '
            '--launcher pytorch)')
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    # DDP rejects device_ids for CPU modules; mmengine passes LOCAL_RANK.
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
