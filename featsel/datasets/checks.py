"""Checks data sets run when they list their samples.

Each raises :class:`featsel.utils.DataError` with a message that names the
file or folder at fault, so a tool reports it in one line before training
starts, instead of a worker failing on the first bad sample (or numpy's
``need at least one array to concatenate`` for an empty list).
"""
import os.path as osp
from typing import List, Sequence

from featsel.utils import DataError

# How many missing files a message shows.
_SHOWN = 3


def require_dir(path: str, what: str, hint: str = '') -> None:
    """Raise if the folder ``path`` does not exist.

    Args:
        path (str): Folder to check.
        what (str): What the folder is, e.g. ``'img_dir (data_prefix.
            img_path)'``.
        hint (str): A sentence appended to the message. Defaults to ''.

    Raises:
        DataError: Naming ``what`` and ``path``.
    """
    if not osp.isdir(path):
        raise DataError(f'{what} "{path}" does not exist. {hint}'.strip())


def require_file(path: str, what: str, hint: str = '') -> None:
    """Raise if the file ``path`` does not exist.

    Args:
        path (str): File to check.
        what (str): What the file is, e.g. ``'ann_file'``.
        hint (str): A sentence appended to the message. Defaults to ''.

    Raises:
        DataError: Naming ``what`` and ``path``.
    """
    if not osp.isfile(path):
        raise DataError(f'{what} "{path}" does not exist. {hint}'.strip())


def require_files(paths: Sequence[str], what: str, listed_in: str) -> None:
    """Raise if any of ``paths`` is not a file; the message counts them and
    shows the first few.

    Args:
        paths (Sequence[str]): Files a data set lists.
        what (str): What they are, e.g. ``'images'``.
        listed_in (str): Where the list comes from (a split file, an
            annotation file, a folder).

    Raises:
        DataError: ``k of n <what> listed in <listed_in> do not exist:
            "a", "b", ...``.
    """
    missing: List[str] = [p for p in paths if not osp.isfile(p)]
    if missing:
        shown = ', '.join(f'"{p}"' for p in missing[:_SHOWN])
        more = ', ...' if len(missing) > _SHOWN else ''
        raise DataError(f'{len(missing)} of {len(paths)} {what} listed in '
                        f'{listed_in} do not exist: {shown}{more}')


def require_samples(data_list: Sequence[dict], dataset: str,
                    reason: str) -> None:
    """Raise if a data set holds no sample.

    Args:
        data_list (Sequence[dict]): The samples after filtering.
        dataset (str): The data set, e.g. its type and annotation file.
        reason (str): Why it is empty and what to change.

    Raises:
        DataError: ``<dataset> is empty: <reason>``.
    """
    if not data_list:
        raise DataError(f'{dataset} is empty: {reason}')
