"""Fixes for running mmengine 0.10.7 on torch >= 2.6, on CPU-only hosts, and
through crashes.

Three weaknesses of the pinned OpenMMLab stack are mended here, once, for
every featsel entry point:

* ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and the
  checkpoints mmengine writes pickle its ``HistoryBuffer`` (message hub),
  ``collections.Counter`` and numpy scalars, so ``--resume`` raises
  ``UnpicklingError``. :func:`load_local_checkpoint` loads weights-only with
  exactly these types allow-listed; a file that needs anything else (which
  unpickling would run as code) is refused with a :class:`CheckpointError`
  naming the file and the opt-in (``--trust-checkpoint``,
  ``FEATSEL_TRUST_CHECKPOINTS=1`` or ``trust_checkpoint=True`` in the
  config). Truncated or foreign files are a :class:`CheckpointError` too.
* mmengine's ``init_dist`` calls ``torch.cuda.set_device``, which fails on a
  machine without CUDA. :func:`init_cpu_distributed` starts a gloo process
  group first (the runner then skips its own start) and makes DDP wrap the CPU
  model without ``device_ids``.
* mmengine writes checkpoints and ``last_checkpoint`` in place, so a run
  killed while saving leaves a truncated checkpoint (or an empty
  ``last_checkpoint``) that ``--resume`` then trips over.
  :class:`AtomicLocalBackend` writes to a temporary file and renames it.
"""
import collections
import os
import os.path as osp
import pickle
import re
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.errors import CheckpointError, ConfigError
from ..utils.io import write_bytes_atomic

try:  # numpy >= 2 renamed numpy.core to numpy._core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover
    from numpy.core import multiarray as _multiarray

TRUST_ENV = 'FEATSEL_TRUST_CHECKPOINTS'
_TRUST_HINT = ('pass --trust-checkpoint to tools/train.py or tools/test.py '
               f'(or set {TRUST_ENV}=1, or trust_checkpoint=True in the '
               'config)')
# numeric, boolean and text dtypes; object arrays are left out on purpose
_NUMPY_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8',
                 'uint16', 'uint32', 'uint64', 'float16', 'float32',
                 'float64', 'complex64', 'complex128', 'str', 'bytes')
# what the message hub's HistoryBuffer pickles: its statistics methods
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')
_UNSAFE_GLOBAL = re.compile(r'(?:Unsupported global: |unsupported )GLOBAL '
                            r'(\S+)|getattr\((.+?)\) is not allowed')
_applied = False


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """``getattr`` as the weights-only unpickler may call it: only for the
    statistics methods of mmengine's ``HistoryBuffer``."""
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'getattr({owner!r}, {name!r}) is not '
                                 'allowed')


def _safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The non-tensor types found in mmengine checkpoints (runner state,
    message hub, meta), allowed for ``torch.load(weights_only=True)``."""
    return [
        np.ndarray, np.dtype, _multiarray._reconstruct, _multiarray.scalar,
        HistoryBuffer, collections.Counter,
        (_history_buffer_method, 'builtins.getattr'),
    ] + [type(np.dtype(t)) for t in _NUMPY_DTYPES]


def checkpoint_trusted() -> bool:
    """Whether full unpickling of checkpoints was allowed (by
    ``--trust-checkpoint``, ``trust_checkpoint=True`` or the
    ``FEATSEL_TRUST_CHECKPOINTS=1`` environment variable)."""
    return os.environ.get(TRUST_ENV, '').lower() in ('1', 'true', 'yes')


def trust_checkpoints() -> None:
    """Allow full unpickling of the checkpoints this process (and the
    processes it starts) loads."""
    os.environ[TRUST_ENV] = '1'


def _first_line(err: BaseException) -> str:
    """The cause in torch's message: its first sentence, or the reason of
    the weights-only unpickler."""
    text = str(err).strip()
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1].strip()
    text = text.splitlines()[0].split('. ')[0] if text else ''
    return text or type(err).__name__


def _torch_load(filename: str, map_location, weights_only: bool) -> Any:
    """``torch.load`` whose read failures name the file."""
    try:
        if not weights_only:
            return torch.load(filename, map_location=map_location,
                              weights_only=False)
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as err:
        match = _UNSAFE_GLOBAL.search(str(err))
        if match is None:
            raise CheckpointError(
                f'checkpoint "{filename}" cannot be read: it is truncated or '
                f'not a torch checkpoint ({_first_line(err)})') from err
        found = match.group(1) or f'getattr({match.group(2)})'
        raise CheckpointError(
            f'checkpoint "{filename}" holds {found}, which '
            'only full unpickling can load, and unpickling runs code stored '
            f'in the file; if you trust the file, {_TRUST_HINT}') from err
    except (RuntimeError, EOFError, KeyError, ValueError, MemoryError,
            OSError) as err:
        raise CheckpointError(
            f'checkpoint "{filename}" cannot be read: it is truncated or not '
            f'a torch checkpoint ({type(err).__name__}: '
            f'{_first_line(err)})') from err


def load_local_checkpoint(
        filename: str,
        map_location: Optional[Union[str, torch.device]] = None) -> dict:
    """Load a checkpoint from a local path, weights-only unless trusted.

    Tensors, numbers, containers, numpy arrays/scalars and the message
    hub's ``HistoryBuffer`` load without running code from the file. A file
    that needs more is refused unless :func:`checkpoint_trusted`, and then
    loaded fully, with a warning naming it.

    Args:
        filename (str): Path of the checkpoint file.
        map_location (str | torch.device, optional): As in :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        FileNotFoundError: The file does not exist.
        CheckpointError: The file is unreadable, or needs full unpickling
            and is not trusted; the message names the file.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file "{filename}" does not exist')
    try:
        return _torch_load(filename, map_location, weights_only=True)
    except CheckpointError as err:
        if not (checkpoint_trusted() and 'full unpickling' in str(err)):
            raise
    print_log(
        f'"{filename}" holds objects beyond weights; loading it with full '
        f'unpickling because {TRUST_ENV} is set (--trust-checkpoint).',
        logger='current')
    return _torch_load(filename, map_location, weights_only=False)


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
