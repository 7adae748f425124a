"""The ``meta.jsonl`` protocol of paired restoration data: one JSON object
per line, one line per (degraded, clean) pair.

=============  ========  ====================================================
field          required  value
=============  ========  ====================================================
id             yes       unique string
dataset        yes       source data set, e.g. ``"SOTS-outdoor"``
scene_id       yes       scene the pair shows; splits never share a scene
split          yes       ``"train"``, ``"val"``, ``"test"`` or another name
path_raw       yes       degraded image, relative to the image root
path_gt        yes       clean target, relative to the image root
degradation    yes       ``"haze"``, ``"rain"``, ``"snow"`` (or a key of the
                         data set's ``task_map``)
w, h           no        image size in pixels, or null
severity       no        number in [0, 1], or null (unknown)
capture_id     no        clean capture the pair was made from, or null
hash           no        16-hex-digit pHash of the clean image, or null
tile_cfg       no        evaluation tiling, e.g. ``{"tile": 512, "overlap":
                         64, "blend": "hann"}``, or null (whole image)
crop_border    no        pixels left out at each border by the metrics
                         (default 0)
=============  ========  ====================================================

Every error names the file and the line number (from 1): a line that is
not JSON or not an object, a missing required field, a field not in the
table, a value of the wrong type, and an ``id`` used twice. Blank lines are
skipped. :func:`write_meta` writes records with the fields in table order.
"""
import json
import os.path as osp
from typing import Dict, Iterable, List, Optional

from featsel.utils import DataError, write_bytes_atomic

#: Every field of a record, in the order written.
META_FIELDS = ('id', 'dataset', 'scene_id', 'split', 'path_raw', 'path_gt',
               'w', 'h', 'degradation', 'severity', 'capture_id', 'hash',
               'tile_cfg', 'crop_border')
#: Fields every line must hold.
REQUIRED_FIELDS = ('id', 'dataset', 'scene_id', 'split', 'path_raw',
                   'path_gt', 'degradation')
#: Values of the optional fields a line leaves out.
OPTIONAL_DEFAULTS = dict(w=None, h=None, severity=None, capture_id=None,
                         hash=None, tile_cfg=None, crop_border=0)
#: Task name per degradation, as the restoration models name their tasks.
DEGRADATION_TASKS = dict(haze='dehaze', rain='derain', snow='desnow')


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(field: str, value) -> Optional[str]:
    """What is wrong with ``value`` for ``field``, or None."""
    if field in REQUIRED_FIELDS:
        if not (isinstance(value, str) and value):
            return 'must be a non-empty string'
    elif field in ('w', 'h'):
        if value is not None and not (_is_int(value) and value > 0):
            return 'must be a positive integer or null'
    elif field == 'severity':
        if value is not None and not (
                isinstance(value, (int, float)) and not isinstance(
                    value, bool) and 0 <= value <= 1):
            return 'must be a number in [0, 1] or null'
    elif field in ('capture_id', 'hash'):
        if value is not None and not isinstance(value, str):
            return 'must be a string or null'
    elif field == 'tile_cfg':
        if value is not None and not isinstance(value, dict):
            return 'must be an object or null'
    elif field == 'crop_border':
        if not (_is_int(value) and value >= 0):
            return 'must be a non-negative integer'
    return None


def parse_meta_line(text: str, where: str) -> Optional[dict]:
    """One checked record with every field, or None for a blank line.

    Args:
        text (str): The line.
        where (str): ``'<file>, line <n>'`` for messages.

    Raises:
        DataError: Naming ``where`` and the field at fault.
    """
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f'{where}: not valid JSON ({err.msg} at column '
                        f'{err.colno})') from None
    if not isinstance(record, dict):
        raise DataError(f'{where}: expected a JSON object, got '
                        f'{type(record).__name__}')
    unknown = [k for k in record if k not in META_FIELDS]
    if unknown:
        raise DataError(f'{where}: unknown field "{unknown[0]}"; the fields '
                        f'are {", ".join(META_FIELDS)}')
    missing = [k for k in REQUIRED_FIELDS if k not in record]
    if missing:
        raise DataError(f'{where}: missing required field "{missing[0]}"')
    full = dict(OPTIONAL_DEFAULTS)
    full.update(record)
    for field in META_FIELDS:
        problem = _check_value(field, full[field])
        if problem:
            raise DataError(f'{where}: field "{field}" {problem}, got '
                            f'{json.dumps(full[field])}')
    return {field: full[field] for field in META_FIELDS}


def read_meta(path: str) -> List[dict]:
    """Read and check a ``meta.jsonl`` file.

    Args:
        path (str): The file.

    Returns:
        list[dict]: One record per non-blank line with all of
        :data:`META_FIELDS` (defaults filled in) and ``line``, the line
        number.

    Raises:
        DataError: If the file is missing or a line is wrong (see the
            module docstring); the message names the file and the line.
    """
    if not osp.isfile(path):
        raise DataError(f'meta file "{path}" does not exist')
    records: List[dict] = []
    first_line: Dict[str, int] = {}
    with open(path, encoding='utf-8') as f:
        for number, text in enumerate(f, start=1):
            where = f'{path}, line {number}'
            record = parse_meta_line(text, where)
            if record is None:
                continue
            if record['id'] in first_line:
                raise DataError(
                    f'{where}: id "{record["id"]}" is already used on line '
                    f'{first_line[record["id"]]}')
            first_line[record['id']] = number
            record['line'] = number
            records.append(record)
    return records


def write_meta(path: str, records: Iterable[dict]) -> None:
    """Write records as ``meta.jsonl`` (atomically), fields in table order.

    Args:
        path (str): Output file.
        records (Iterable[dict]): Records with at least the required fields;
            missing optional fields get their defaults, other keys (such as
            ``line``) are left out.

    Raises:
        DataError: If a record is wrong, naming its position (from 1).
    """
    lines = []
    for number, record in enumerate(records, start=1):
        text = json.dumps({k: v for k, v in record.items()
                           if k in META_FIELDS})
        parse_meta_line(text, f'record {number} for {path}')
        full = dict(OPTIONAL_DEFAULTS)
        full.update({k: record[k] for k in META_FIELDS if k in record})
        lines.append(json.dumps({k: full[k] for k in META_FIELDS}) + '\n')
    write_bytes_atomic(''.join(lines).encode('utf-8'), path)


def resolve_path(root: str, path: str) -> str:
    """``path`` if absolute, else ``root/path``."""
    return path if osp.isabs(path) else osp.join(root, path)


def check_pair_files(records: List[dict], root: str, meta_path: str) -> None:
    """Raise if an image of a record does not exist.

    Args:
        records (list[dict]): Records of :func:`read_meta`.
        root (str): Folder relative paths start from.
        meta_path (str): The meta file, for messages.

    Raises:
        DataError: Naming how many images are missing, and the line, field
            and resolved path of the first.
    """
    missing = [(r['line'], field, resolve_path(root, r[field]))
               for r in records for field in ('path_raw', 'path_gt')
               if not osp.isfile(resolve_path(root, r[field]))]
    if missing:
        line, field, path = missing[0]
        more = (f' ({len(missing)} images are missing in all)'
                if len(missing) > 1 else '')
        raise DataError(f'{meta_path}, line {line}: {field} "{path}" does '
                        f'not exist{more}; relative paths start at '
                        f'"{root}"')
