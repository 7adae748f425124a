"""Checks of a ``meta.jsonl`` set: near-duplicates across splits, scene
leaks, misaligned pairs, and estimated against recorded severity.

:func:`check_meta` runs them all and returns one JSON-ready report:

* ``duplicates``: pairs of distinct clean images whose pHashes
  (:mod:`.phash`; the ``hash`` field when it holds one, else computed) are
  within ``max_distance`` bits, with the ids and splits using each, and
  whether the two are in different splits (``cross_split``, a leak);
  ``drop`` lists the ids to remove so that no near-duplicate stays across
  splits: of two near-duplicates the one in the lower-priority split goes
  (priority test > val > train > others, so benchmark splits stay whole).
* ``scene_leaks``: scenes that appear in more than one split.
* ``alignment``: per pair the shift of the degraded image against its
  target (:mod:`.alignment`); ``flagged`` holds those shifted by more than
  ``max_shift`` pixels and pairs whose two images differ in size.
* ``severity``: per degradation with an estimator (:mod:`.severity`) the
  range of the estimates and, where the records hold severities, their
  Spearman rank correlation with the estimates.
* ``pairs``: one entry per pair with all of the above.
"""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy.stats import spearmanr

from .alignment import MAX_SHIFT_PX, check_alignment
from .converters import read_rgb
from .meta import resolve_path
from .phash import NEAR_DUPLICATE_BITS, near_duplicate_pairs, parse_phash
from .phash import phash as compute_phash
from .severity import SEVERITY_ESTIMATORS

#: Splits in the order they are kept when near-duplicates are dropped.
SPLIT_PRIORITY = ('test', 'val', 'train')


def _priority(split: str) -> int:
    return (SPLIT_PRIORITY.index(split) if split in SPLIT_PRIORITY else
            len(SPLIT_PRIORITY))


def _stored_hash(record: dict) -> Optional[int]:
    try:
        return parse_phash(record['hash'])
    except ValueError:
        return None


def find_duplicates(records: Sequence[dict], root: str,
                    max_distance: int = NEAR_DUPLICATE_BITS) -> dict:
    """Near-duplicate clean images and the ids to drop (see the module
    docstring).

    Args:
        records (Sequence[dict]): Records of :func:`~.meta.read_meta`.
        root (str): Folder relative image paths start at.
        max_distance (int): Largest Hamming distance of near-duplicates.

    Returns:
        dict: ``max_distance``, ``unique_targets``, ``pairs`` (list of
        ``{a, b, distance, ids_a, ids_b, splits_a, splits_b,
        cross_split}``), ``cross_split`` (count) and ``drop`` (ids).
    """
    users: Dict[str, List[dict]] = defaultdict(list)
    hashes: Dict[str, int] = {}
    for record in records:
        path = resolve_path(root, record['path_gt'])
        users[path].append(record)
        if path not in hashes:
            stored = _stored_hash(record)
            hashes[path] = (stored if stored is not None else
                            compute_phash(read_rgb(path)))
    paths = sorted(users)
    found, drop = [], set()
    for i, j, dist in near_duplicate_pairs([hashes[p] for p in paths],
                                           max_distance):
        a, b = paths[i], paths[j]
        splits_a = sorted({r['split'] for r in users[a]})
        splits_b = sorted({r['split'] for r in users[b]})
        cross = set(splits_a) != set(splits_b) or len(splits_a) > 1
        found.append(dict(a=a, b=b, distance=dist,
                          ids_a=[r['id'] for r in users[a]],
                          ids_b=[r['id'] for r in users[b]],
                          splits_a=splits_a, splits_b=splits_b,
                          cross_split=cross))
        if cross:
            best = min(_priority(s) for s in splits_a + splits_b)
            drop.update(r['id'] for r in users[a] + users[b]
                        if _priority(r['split']) > best)
    return dict(max_distance=max_distance, unique_targets=len(paths),
                pairs=found, cross_split=sum(p['cross_split'] for p in found),
                drop=sorted(drop))


def scene_leaks(records: Sequence[dict]) -> Dict[str, List[str]]:
    """Scenes used by more than one split -> their splits."""
    splits: Dict[str, set] = defaultdict(set)
    for record in records:
        splits[record['scene_id']].add(record['split'])
    return {scene: sorted(s) for scene, s in sorted(splits.items())
            if len(s) > 1}


def check_pair(record: dict, root: str, max_shift: float) -> dict:
    """Alignment and estimated severity of one pair.

    Returns:
        dict: ``id``, ``split``, ``degradation``, ``severity`` (recorded),
        ``severity_est`` (None without an estimator), and ``dx``, ``dy``,
        ``shift``, ``response``, ``aligned`` (or ``size_mismatch`` with
        both sizes when the images differ in size).
    """
    lq = read_rgb(resolve_path(root, record['path_raw']))
    gt = read_rgb(resolve_path(root, record['path_gt']))
    estimate = SEVERITY_ESTIMATORS.get(record['degradation'])
    entry = dict(id=record['id'], split=record['split'],
                 degradation=record['degradation'],
                 severity=record['severity'],
                 severity_est=None if estimate is None else round(
                     estimate(lq), 4))
    if lq.shape != gt.shape:
        entry.update(aligned=False,
                     size_mismatch=[list(lq.shape[:2]), list(gt.shape[:2])])
    else:
        entry.update({k: (round(v, 3) if isinstance(v, float) else v)
                      for k, v in check_alignment(lq, gt, max_shift).items()})
    return entry


def severity_summary(pairs: Sequence[dict]) -> Dict[str, dict]:
    """Per degradation: count, min/mean/max of the estimates, and the
    Spearman correlation with the recorded severities (None with fewer
    than 3 recorded, or constant values)."""
    by_kind: Dict[str, List[dict]] = defaultdict(list)
    for entry in pairs:
        if entry['severity_est'] is not None:
            by_kind[entry['degradation']].append(entry)
    summary = {}
    for kind, entries in sorted(by_kind.items()):
        est = np.array([e['severity_est'] for e in entries])
        recorded = [(e['severity'], e['severity_est']) for e in entries
                    if e['severity'] is not None]
        rho = None
        if len(recorded) >= 3:
            a, b = np.array(recorded).T
            if a.std() > 0 and b.std() > 0:
                rho = round(float(spearmanr(a, b)[0]), 3)
        summary[kind] = dict(count=len(entries), est_min=float(est.min()),
                             est_mean=round(float(est.mean()), 4),
                             est_max=float(est.max()), spearman=rho)
    return summary


def check_meta(records: Sequence[dict], root: str,
               max_distance: int = NEAR_DUPLICATE_BITS,
               max_shift: float = MAX_SHIFT_PX) -> dict:
    """All checks of a set (see the module docstring).

    Args:
        records (Sequence[dict]): Records of :func:`~.meta.read_meta`.
        root (str): Folder relative image paths start at.
        max_distance (int): Largest Hamming distance of near-duplicates.
        max_shift (float): Largest shift, pixels, of an aligned pair.

    Returns:
        dict: The report.
    """
    pairs = [check_pair(r, root, max_shift) for r in records]
    flagged = [p for p in pairs if not p['aligned']]
    return dict(
        num_pairs=len(records),
        duplicates=find_duplicates(records, root, max_distance),
        scene_leaks=scene_leaks(records),
        alignment=dict(max_shift=max_shift, flagged=flagged,
                       num_flagged=len(flagged)),
        severity=severity_summary(pairs),
        pairs=pairs)
