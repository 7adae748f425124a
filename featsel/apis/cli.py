"""Shared parts of the command-line tools."""
import os
import sys
from typing import Callable

from ..utils import ConfigError, DataError

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
