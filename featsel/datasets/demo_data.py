"""One mechanism for the synthetic demo sets: write atomically, find, and
create on first use only where that is safe.

A :class:`DemoSet` says how one set is written (its ``build`` function) and
how a complete copy is recognised (its ``sentinel``, the file written
last). :func:`write_demo_set` writes a set into a hidden temporary folder
beside the target and renames it into place in one step, so an interrupted
run leaves no partial set and several processes (DataLoader workers,
distributed ranks) may write at once: the first rename wins, later ones
discard their copy.

The demo data set types call :func:`prepare_demo_root` when they are built:
a missing set is written at the documented default root, or anywhere when
the config asks with ``create_demo=True``. Any other root without a set is
an error that names the root, so a mistyped ``data_root`` never becomes a
fresh synthetic set that trains silently.
"""
import os
import os.path as osp
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from mmengine.logging import print_log

from featsel.utils import ConfigError, DataError


@dataclass(frozen=True)
class DemoSet:
    """How one synthetic demo set is written and recognised.

    Args:
        name (str): Name used in messages, e.g. ``'demo lesion set'``.
        default_root (str): Documented root, relative to the working
            directory; the set is written there on first use.
        sentinel (str): File (relative to the root) written last; its
            presence marks a complete set.
        build (Callable): ``build(folder, **options)`` writes a complete set
            into the existing empty ``folder``.
        options (tuple[str]): Keyword arguments of ``build`` that a
            dataset's ``demo_cfg`` may set.
        command (str): Shell command that writes the set at ``{root}``, for
            messages. Defaults to '' (none).
    """

    name: str
    default_root: str
    sentinel: str
    build: Callable[..., object]
    options: Tuple[str, ...]
    command: str = ''

    def present(self, root: str) -> bool:
        """Whether ``root`` holds a complete set."""
        return osp.isfile(osp.join(root, self.sentinel))

    def is_default_root(self, root: str) -> bool:
        """Whether ``root`` is the documented default root."""
        return osp.abspath(root) == osp.abspath(self.default_root)


def write_demo_set(spec: DemoSet,
                   root: str,
                   overwrite: bool = False,
                   **options) -> str:
    """Write ``spec``'s set under ``root`` atomically.

    Args:
        spec (DemoSet): The set.
        root (str): Output folder. It must not exist, be empty, or hold a
            set of this kind (kept, or replaced with ``overwrite``).
        overwrite (bool): Replace a set already in ``root``. Without it an
            existing set is kept and the new one discarded. Defaults to
            False.
        **options: Passed to ``spec.build``.

    Returns:
        str: ``root``.

    Raises:
        DataError: If ``root`` holds other files and no set of this kind.
    """
    dest = osp.abspath(root)
    parent = osp.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(dest)}.tmp-', dir=parent)
    try:
        shown = ', '.join(f'{k}={v}' for k, v in options.items())
        print_log(f'writing the {spec.name} ({shown or "defaults"}) to '
                  f'{root}', logger='current')
        start = time.perf_counter()
        spec.build(tmp, **options)
        print_log(f'{spec.name} written in '
                  f'{time.perf_counter() - start:.1f} s', logger='current')
        if overwrite and spec.present(dest):
            old = tmp + '.old'
            os.rename(dest, old)
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
            return root
        try:
            # replaces an empty folder; fails on a non-empty one
            os.rename(tmp, dest)
        except OSError:
            if not spec.present(dest):
                raise DataError(
                    f'{root} exists and holds no {spec.name} '
                    f'({spec.sentinel} is missing); remove it or choose '
                    'another folder') from None
            print_log(f'{root} already holds a {spec.name}; kept it',
                      logger='current')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def ensure_demo_set(spec: DemoSet, root: str, **options) -> str:
    """Write ``spec``'s set under ``root`` unless it is there already.

    Args:
        spec (DemoSet): The set.
        root (str): Folder of the set.
        **options: Passed to ``spec.build``, used only when writing.

    Returns:
        str: ``root``.
    """
    if not spec.present(root):
        write_demo_set(spec, root, **options)
    return root


def prepare_demo_root(spec: DemoSet,
                      data_root: str,
                      owner: str,
                      demo_cfg: Optional[dict] = None,
                      create_demo: bool = False) -> None:
    """What a demo data set type does when built: check ``demo_cfg``, then
    find the set at ``data_root`` or write it where that is allowed.

    Args:
        spec (DemoSet): The set.
        data_root (str): The dataset's ``data_root``.
        owner (str): The dataset type, for messages.
        demo_cfg (dict, optional): Options of ``spec.build`` for a set that
            is written; an existing set is used as it is. Defaults to None.
        create_demo (bool): Write a missing set at ``data_root`` even if it
            is not ``spec.default_root``. Defaults to False.

    Raises:
        ConfigError: If ``demo_cfg`` holds an unknown key.
        DataError: If ``data_root`` holds no set, is not the default root
            and ``create_demo`` is False; the message names the root and
            how to write a set there.
    """
    demo_cfg = dict(demo_cfg or {})
    unknown = sorted(set(demo_cfg) - set(spec.options))
    if unknown:
        raise ConfigError(
            f'{owner}: unknown key demo_cfg.{unknown[0]}; expected some of '
            f'{spec.options}')
    if spec.present(data_root):
        return
    if not (create_demo or spec.is_default_root(data_root)):
        how = 'set create_demo=True in the dataset config'
        if spec.command:
            how = f'run `{spec.command.format(root=data_root)}` or {how}'
        raise DataError(
            f'{owner}: data_root "{data_root}" holds no {spec.name} '
            f'("{osp.join(data_root, spec.sentinel)}" is missing). A demo '
            f'set is written on first use only at "{spec.default_root}"; '
            f'to write one at "{data_root}", {how}.')
    ensure_demo_set(spec, data_root, **demo_cfg)
