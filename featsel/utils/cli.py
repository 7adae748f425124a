"""Shared parts of the command-line tools."""
import argparse
import os
import os.path as osp
import sys
from typing import Callable

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..engine import init_cpu_distributed
from .errors import ConfigError, DataError

_USER_ERRORS = (ConfigError, DataError, FileNotFoundError)


def _is_user_error(err: BaseException) -> bool:
    if isinstance(err, _USER_ERRORS):
        return True
    # mmengine reports an unknown ``type=`` as a KeyError and a misspelt
    # argument as a TypeError naming the class and the key
    return (isinstance(err, KeyError) and 'is not in the' in str(err)
            or isinstance(err, TypeError)
            and 'unexpected keyword argument' in str(err))


def _message(err: BaseException) -> str:
    text = str(err.args[0] if err.args else err).strip()
    if 'Original Traceback' in text:  # re-raised from a DataLoader worker
        text = text.splitlines()[-1].split(': ', 1)[-1]
    return text


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; bad input ends with one line, not a trace.

    Config and data errors (:class:`ConfigError`, :class:`DataError`, a
    missing file, an unknown component type) print ``error: <message>`` and
    exit with status 2. Set ``FEATSEL_DEBUG=1`` to see the traceback.
    """
    try:
        main()
    except Exception as err:  # noqa: BLE001
        if os.environ.get('FEATSEL_DEBUG') or not _is_user_error(err):
            raise
        print(f'error: {_message(err)}', file=sys.stderr)
        sys.exit(2)


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The arguments ``train.py`` and ``test.py`` share with mmseg/mmdet."""
    parser.add_argument('--work-dir',
                        help='the dir for logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config``, apply ``--cfg-options``, the launcher and the
    work dir (default ``work_dirs/<config name>``)."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file "{args.config}" does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Start distributed work if asked (gloo on a CPU) and build the runner
    (``runner_type`` in the config picks a custom one).

    Building the runner builds the model; a component that rejects one of
    its arguments raises ValueError naming the argument, which is reported
    as a config error.
    """
    init_cpu_distributed(cfg, cfg.launcher)
    try:
        if 'runner_type' in cfg:
            return RUNNERS.build(cfg)
        return Runner.from_cfg(cfg)
    except ValueError as err:
        if isinstance(err, (ConfigError, DataError)):
            raise
        raise ConfigError(str(err)) from err
