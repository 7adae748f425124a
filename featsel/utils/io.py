"""Small file helpers."""
import json
import os
import os.path as osp
import tempfile
from typing import Any


def dump_json_atomic(obj: Any, path: str) -> None:
    """Write JSON so that a crash never leaves a half-written file.

    The data goes to a temporary file in the same folder, which then
    replaces ``path`` in one step.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
