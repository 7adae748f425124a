"""Small file helpers."""
import glob
import json
import os
import os.path as osp
import re
import tempfile
from typing import Any, List

# temporary files of :func:`write_bytes_atomic`: ``tmp<pid>_<random>.part``
_PART_GLOB = 'tmp*.part'
_PART_PID = re.compile(r'^tmp(\d+)_')


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(data: bytes, path: str) -> None:
    """Write ``data`` so that a crash never leaves a half-written file.

    The data goes to a temporary file ``tmp<pid>_<random>.part`` in the same
    folder, is flushed to disk, gets the mode a plain ``open`` would give
    (``0o666`` less the umask), and then replaces ``path`` in one
    ``os.replace``: readers see the old file or the new one, never a
    truncated one. A failed write (e.g. a full disk) removes the temporary
    file and leaves ``path`` as it was.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'tmp{os.getpid()}_',
                               suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as err:
        if osp.exists(tmp):
            os.remove(tmp)
        if isinstance(err, OSError) and err.filename is None:
            # e.g. a full disk: name the file, and that the old one stays
            raise OSError(err.errno, f'{err.strerror} while writing (the '
                          'previous file, if any, is intact)', path) from err
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def remove_stale_parts(folder: str) -> List[str]:
    """Remove the temporary files that :func:`write_bytes_atomic` left in
    ``folder`` when its process was killed (``kill -9``) mid-write.

    A file whose writer is still running is kept; one without a process id
    in its name (written by older versions) is stale.

    Returns:
        list[str]: The removed paths.
    """
    removed = []
    for path in sorted(glob.glob(osp.join(folder, _PART_GLOB))):
        match = _PART_PID.match(osp.basename(path))
        if match and _pid_alive(int(match.group(1))):
            continue
        os.remove(path)
        removed.append(path)
    return removed


def dump_json_atomic(obj: Any, path: str) -> None:
    """Write ``obj`` as indented JSON with :func:`write_bytes_atomic`."""
    write_bytes_atomic(json.dumps(obj, indent=2).encode('utf-8'), path)
