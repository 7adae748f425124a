"""Shared parts of the command-line tools."""
import argparse
import fnmatch
import os
import os.path as osp
import sys
from typing import Any, Callable, Dict, Optional, Tuple

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..engine import init_cpu_distributed
from ..engine.compat import trust_checkpoints
from .errors import ConfigError, DataError
from .io import remove_stale_parts

_USER_ERRORS = (ConfigError, DataError, OSError)
# runner keys that only take whole numbers (a float there fails deep in
# mmengine or torch); component arguments are checked by the components
_INTEGER_KEYS = ('train_cfg.max_iters', 'train_cfg.max_epochs',
                 'train_cfg.val_interval', 'train_cfg.val_begin',
                 '*_dataloader.batch_size', '*_dataloader.num_workers',
                 'default_hooks.*.interval', 'default_hooks.*.max_keep_ckpts',
                 'randomness.seed', 'model.num_queries')
_MISSING = object()


def _is_user_error(err: BaseException) -> bool:
    if isinstance(err, _USER_ERRORS):
        return True
    # mmengine reports an unknown ``type=`` as a KeyError and a misspelt
    # argument as a TypeError naming the class and the key
    return (isinstance(err, KeyError) and 'is not in the' in str(err)
            or isinstance(err, TypeError)
            and 'unexpected keyword argument' in str(err))


def _message(err: BaseException) -> str:
    """One line for ``err``: an OSError's reason and file (its first
    argument is the errno), a KeyError's text without quotes, else the
    message."""
    if isinstance(err, OSError) and err.strerror:
        files = ' -> '.join(f'"{f}"' for f in (err.filename, err.filename2)
                            if f is not None)
        text = f'{err.strerror}: {files}' if files else err.strerror
    elif isinstance(err, KeyError) and err.args:
        text = str(err.args[0])
    else:
        text = str(err)
    text = text.strip()
    if 'Original Traceback' in text:  # re-raised from a DataLoader worker
        text = text.splitlines()[-1].split(': ', 1)[-1]
    return ' '.join(text.split('\n')) if text else type(err).__name__


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; bad input ends with one line, not a trace.

    Config, data and checkpoint errors (:class:`ConfigError`,
    :class:`DataError`), file-system errors (a missing file, a read-only or
    full disk), an unknown component type and a misspelt argument print
    ``error: <message>`` and exit with status 2. Set ``FEATSEL_DEBUG=1`` to
    see the traceback.
    """
    try:
        main()
    except Exception as err:  # noqa: BLE001
        if os.environ.get('FEATSEL_DEBUG') or not _is_user_error(err):
            raise
        print(f'error: {_message(err)}', file=sys.stderr)
        sys.exit(2)


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction``, with a clear error for an item that is
    not ``KEY=VALUE``."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values or []:
            if '=' not in item:
                raise ConfigError(
                    f'{option_string} "{item}" has no "=": write KEY=VALUE, '
                    'e.g. train_cfg.max_iters=100')
        super().__call__(parser, namespace, values, option_string)


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The arguments ``train.py`` and ``test.py`` share with mmseg/mmdet,
    and the checkpoint safety switches."""
    parser.add_argument('--work-dir',
                        help='the dir for logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override config settings, e.g. train_cfg.max_iters=100')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='allow loading checkpoints that need full unpickling (which '
        'runs code stored in the file); by default only weights, numbers '
        'and mmengine\'s log buffers are loaded')
    parser.add_argument(
        '--non-strict', action='store_true',
        help='load a checkpoint (load_from, test.py) that does not fully fit '
        'the model: the matching weights are used, the rest is reported')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_bootstrap_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--n-resamples``, ``--confidence`` and ``--seed``: the settings
    of the percentile bootstrap intervals of the report tools (read back
    with :func:`bootstrap_kwargs`)."""
    group = parser.add_argument_group('bootstrap confidence intervals')
    group.add_argument('--n-resamples', type=int, default=10000,
                       help='bootstrap resamples (default 10000)')
    group.add_argument('--confidence', type=float, default=0.95,
                       help='level of the intervals (default 0.95)')
    group.add_argument('--seed', type=int, default=0,
                       help='seed of the resampling (default 0)')


def bootstrap_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """``n_resamples``, ``confidence`` and ``seed`` of the parsed
    :func:`add_bootstrap_args` options."""
    return dict(n_resamples=args.n_resamples, confidence=args.confidence,
                seed=args.seed)


def parse_shape(text: str) -> Tuple[int, int]:
    """``'HxW'`` -> ``(H, W)``, for ``argparse``'s ``type=``.

    Raises:
        argparse.ArgumentTypeError: If ``text`` is not two integers joined
            by ``x`` (argparse prints it as a one-line usage error).
    """
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'a shape is HxW such as 640x640, got "{text}"') from None
    return height, width


def read_config(path: str) -> Config:
    """``Config.fromfile`` whose syntax errors and missing ``_base_`` files
    name the file (and the line)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file "{path}" does not exist')
    try:
        return Config.fromfile(path)
    except SyntaxError as err:
        if err.lineno is None:  # mmengine's message names the _base_ file
            raise ConfigError(str(err)) from err
        raise ConfigError(f'syntax error in config "{path}", line '
                          f'{err.lineno}: {err.msg}') from err
    except FileNotFoundError as err:
        missing = osp.normpath(err.filename or str(err))
        raise ConfigError(f'config "{path}" reads "{missing}" (a _base_ '
                          'file), which does not exist') from err


def _lookup(cfg: Any, key: str) -> Any:
    """The value at dotted ``key`` (list items by index), or ``_MISSING``."""
    node = cfg.to_dict() if isinstance(cfg, Config) else cfg
    for part in key.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() \
                and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


_TYPE_NAMES = {bool: 'true or false', int: 'a whole number (int)',
               float: 'a number'}


def check_option_types(cfg: Config, options: Dict[str, Any]) -> None:
    """Refuse ``--cfg-options`` values of the wrong type, before they fail
    deep in mmengine or torch.

    A text value (``max_iters=abc``) where the config holds a number or a
    boolean, and a fraction where a runner key takes a whole number
    (``batch_size=2.5``), are :class:`ConfigError` naming the key and the
    expected type.
    """
    for key, new in options.items():
        old = _lookup(cfg, key)
        if old is _MISSING or old is None:
            continue
        wants_int = any(fnmatch.fnmatchcase(key, p) for p in _INTEGER_KEYS)
        if isinstance(old, bool):
            bad = not isinstance(new, (bool, int))
        elif isinstance(old, (int, float)):
            bad = isinstance(new, (str, bool)) or (
                wants_int and isinstance(new, float))
        else:
            continue
        if bad:
            expected = _TYPE_NAMES.get(int if wants_int else type(old),
                                        'a number')
            raise ConfigError(f'--cfg-options {key}={new!r}: {key} takes '
                              f'{expected}, e.g. {key}={old!r}')


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config``, apply ``--cfg-options``, the launcher, the
    work dir (default ``work_dirs/<config name>``) and the checkpoint trust
    (``--trust-checkpoint`` or ``trust_checkpoint=True`` in the config)."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = read_config(args.config)
    if args.cfg_options is not None:
        check_option_types(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if getattr(args, 'trust_checkpoint', False) or cfg.get(
            'trust_checkpoint', False):
        trust_checkpoints()
    if getattr(args, 'non_strict', False):
        for hook in cfg.get('custom_hooks', None) or []:
            if str(hook.get('type', '')).endswith('CheckpointCheckHook'):
                hook['strict'] = False
    return cfg


def prepare_work_dir(work_dir: str) -> None:
    """Create the work dir, check that it is writable, and remove the
    temporary files of a run killed while writing a checkpoint.

    Raises:
        ConfigError: The work dir cannot be created or written; the message
            names it and ``--work-dir``.
    """
    try:
        os.makedirs(work_dir, exist_ok=True)
        probe = osp.join(work_dir, f'.write_test_{os.getpid()}')
        with open(probe, 'w'):
            pass
        os.remove(probe)
    except OSError as err:
        raise ConfigError(
            f'work dir "{work_dir}" is not writable ({err.strerror}): choose '
            'another with --work-dir') from err
    for path in remove_stale_parts(work_dir):
        print_log(f'removed "{path}", a partial file of a run killed while '
                  'writing', logger='current')


def resolve_auto_resume(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` (without a path) continues from.

    ``<work_dir>/last_checkpoint`` holds the absolute path of the newest
    checkpoint when it was written. When the work dir was copied or moved,
    that path points into the old dir; the file of the same name inside
    ``work_dir`` is used whenever it exists.

    Returns:
        str | None: The checkpoint, or None when the work dir has none.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        recorded = f.read().strip()
    if not recorded:
        return None
    local = osp.join(work_dir, osp.basename(recorded))
    if osp.isfile(local):
        return local
    return recorded


def _is_master() -> bool:
    return os.environ.get('RANK', '0') == '0'


def build_runner(cfg: Config) -> Runner:
    """Prepare the work dir, start distributed work if asked (gloo on a
    CPU) and build the runner (``runner_type`` in the config picks a custom
    one).

    Building the runner builds the model; a component that rejects one of
    its arguments raises ValueError naming the argument, which is reported
    as a config error.
    """
    if _is_master():
        prepare_work_dir(cfg.work_dir)
    init_cpu_distributed(cfg, cfg.launcher)
    try:
        if 'runner_type' in cfg:
            return RUNNERS.build(cfg)
        return Runner.from_cfg(cfg)
    except ValueError as err:
        if isinstance(err, (ConfigError, DataError)):
            raise
        raise ConfigError(str(err)) from err
