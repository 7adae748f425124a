"""Shared parts of the command-line tools."""
import os
import sys
from typing import Callable

from ..utils import ConfigError

_USER_ERRORS = (ConfigError, FileNotFoundError)


def _user_message(err: BaseException) -> str:
    text = str(err).strip()
    if 'Original Traceback' in text:  # re-raised from a DataLoader worker
        text = text.splitlines()[-1]
    return text


def _is_registry_miss(err: BaseException) -> bool:
    return isinstance(err, KeyError) and 'is not in the' in str(err)


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; bad input ends with one line, not a trace.

    Config and data errors (:class:`ConfigError`, a missing file, an unknown
    component type) print ``error: <message>`` and exit with status 2.
    Set ``FEATSEL_DEBUG=1`` to see the full traceback instead.
    """
    try:
        main()
    except Exception as err:  # noqa: BLE001
        if os.environ.get('FEATSEL_DEBUG') or not (
                isinstance(err, _USER_ERRORS) or _is_registry_miss(err)
                or 'Original Traceback' in str(err)
                and any(n in str(err) for n in ('ConfigError', 'ValueError',
                                                'FileNotFoundError'))):
            raise
        print(f'error: {_user_message(err)}', file=sys.stderr)
        sys.exit(2)
