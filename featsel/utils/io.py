"""Small file helpers."""
import json
import os
import os.path as osp
import tempfile
from typing import Any


def write_bytes_atomic(data: bytes, path: str) -> None:
    """Write ``data`` so that a crash never leaves a half-written file.

    The data goes to a temporary file in the same folder, is flushed to
    disk, and then replaces ``path`` in one ``os.replace``: readers see the
    old file or the new one, never a truncated one.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def dump_json_atomic(obj: Any, path: str) -> None:
    """Write ``obj`` as indented JSON with :func:`write_bytes_atomic`."""
    write_bytes_atomic(json.dumps(obj, indent=2).encode('utf-8'), path)
