"""Per-image records and run summaries of restoration evaluation, in the
schemas of seed 002 §6, and where a run came from (commit, weight hash).

A **per-image record** (one JSON object per line of ``per_image.jsonl``)::

    {"id": "rain_0003", "dataset": "demo", "task": "derain",
     "severity": 0.41, "crop_border": 0,
     "metrics": {"psnr": 31.2, "ssim": 0.93, "lpips": 0.08},
     "input_metrics": {"psnr": 24.0, "ssim": 0.81},
     "cost": {...}, "moe": {...}}

``input_metrics`` scores the degraded input against the clean image (the
reference row of a results table), ``lpips`` is there when LPIPS weights
were given, ``dataset``, ``severity``, ``cost`` and ``moe`` when the data
sample carried them.

The **run summary** (``summary.json``) holds ``model``, ``backbone``,
``track``, ``settings``, ``efficiency`` and ``moe`` as the run describes
itself; ``macro`` (task-averaged means, and ``hmean_psnr_nlpips`` when
LPIPS is known), ``macro_ci``, ``per_task`` (``n``, means and ``<metric>_ci``
per task), ``input`` (the same for the degraded inputs), ``statistics`` (how
the intervals and the H-mean were computed) and ``provenance`` (featsel
version, git commit, checkpoint and its SHA-256).
"""
import datetime
import hashlib
import json
import os.path as osp
import subprocess
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np

from featsel.utils import DataError, write_bytes_atomic
from featsel.version import __version__

from .statistics import (HMEAN_PSNR_SCALE, bootstrap_ci, hmean_psnr_nlpips,
                         macro_bootstrap_ci, paired_ttest)

#: scores of an image, in report order
METRIC_KEYS = ('psnr', 'ssim', 'lpips')
PER_IMAGE_FILE = 'per_image.jsonl'
SUMMARY_FILE = 'summary.json'


def scores_by_task(records: Sequence[dict], field: str = 'metrics'
                   ) -> Dict[str, Dict[str, np.ndarray]]:
    """Scores of each task, per metric.

    Args:
        records (Sequence[dict]): Per-image records.
        field (str): ``'metrics'`` (the output) or ``'input_metrics'``.

    Returns:
        dict: task (sorted) -> metric -> ``(n,)`` scores in record order.
        A metric is kept for a task only when every image of the task has
        it; a task none of whose records has ``field`` is left out.
    """
    grouped: Dict[str, List[dict]] = defaultdict(list)
    for record in records:
        if field in record:
            grouped[record['task']].append(record[field])
    table = {}
    for task in sorted(grouped):
        rows = grouped[task]
        table[task] = {key: np.array([row[key] for row in rows], np.float64)
                       for key in METRIC_KEYS
                       if all(row.get(key) is not None for row in rows)}
    return table


def summarise_scores(by_task: Dict[str, Dict[str, np.ndarray]],
                     n_resamples: int = 10000, confidence: float = 0.95,
                     seed: int = 0) -> dict:
    """Means and bootstrap intervals per task and over tasks.

    Args:
        by_task (dict): :func:`scores_by_task`.
        n_resamples (int): Bootstrap resamples. Defaults to 10000.
        confidence (float): Interval coverage. Defaults to 0.95.
        seed (int): Bootstrap seed. Defaults to 0.

    Returns:
        dict: ``{'per_task': {task: {'n', <m>, '<m>_ci', ...}}, 'macro':
        {<m>: mean of the task means, 'hmean_psnr_nlpips'}, 'macro_ci':
        {<m>: [low, high]}}``; macro entries only for metrics every task
        has.
    """
    per_task = {}
    for task, scores in by_task.items():
        entry = dict(n=max((len(v) for v in scores.values()), default=0))
        for key, values in scores.items():
            ci = bootstrap_ci(values, n_resamples, confidence, seed)
            entry[key] = ci.mean
            entry[f'{key}_ci'] = [ci.low, ci.high]
        if 'psnr' in scores and 'lpips' in scores:
            entry['hmean_psnr_nlpips'] = hmean_psnr_nlpips(
                entry['psnr'], entry['lpips'])
        per_task[task] = entry
    macro, macro_ci = {}, {}
    for key in METRIC_KEYS:
        if by_task and all(key in scores for scores in by_task.values()):
            ci = macro_bootstrap_ci([s[key] for s in by_task.values()],
                                    n_resamples, confidence, seed)
            macro[key] = ci.mean
            macro_ci[key] = [ci.low, ci.high]
    if 'psnr' in macro and 'lpips' in macro:
        macro['hmean_psnr_nlpips'] = hmean_psnr_nlpips(macro['psnr'],
                                                       macro['lpips'])
    return dict(per_task=per_task, macro=macro, macro_ci=macro_ci)


def format_mean_ci(entry: Optional[dict], digits: int) -> str:
    """``'mean [low, high]'`` of a ``{'mean', 'ci'}`` entry (as
    :func:`summarise_scores` and :func:`compare_runs` write them), ``'-'``
    for a missing one."""
    if entry is None:
        return '-'
    low, high = entry['ci']
    return (f"{entry['mean']:.{digits}f} [{low:.{digits}f}, "
            f"{high:.{digits}f}]")


def statistics_note(n_resamples: int, confidence: float, seed: int) -> dict:
    """How the summary's numbers were computed, for the summary itself."""
    return dict(
        ci=f'percentile bootstrap of the mean, {n_resamples} resamples, '
        f'seed {seed}, {confidence:.0%}; macro: stratified by task',
        n_resamples=n_resamples, confidence=confidence, seed=seed,
        macro='unweighted mean of the task means',
        hmean_psnr_nlpips=f'2ab/(a+b), a = clip(PSNR/{HMEAN_PSNR_SCALE:g} '
        'dB, 0, 1), b = clip(1 - LPIPS, 0, 1)')


def git_commit(folder: Optional[str] = None) -> Dict[str, object]:
    """The git commit of the featsel checkout (or of ``folder``).

    Returns:
        dict: ``{'commit': sha or None, 'dirty': bool or None}``; None
        outside a git checkout.
    """
    folder = folder or osp.dirname(osp.abspath(__file__))

    def git(*args: str) -> Optional[str]:
        try:
            return subprocess.run(
                ['git', '-C', folder, *args], capture_output=True, text=True,
                timeout=30, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git('rev-parse', 'HEAD')
    status = git('status', '--porcelain', '--untracked-files=no') \
        if commit else None
    return dict(commit=commit, dirty=None if status is None else
                bool(status))


def sha256_file(path: str) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def provenance(checkpoint: Optional[str] = None) -> dict:
    """featsel version, git commit and the checkpoint's SHA-256.

    Args:
        checkpoint (str, optional): The weights evaluated; None when they
            are not in a file (e.g. evaluation during training).
    """
    info = dict(featsel_version=__version__, **git_commit(),
                checkpoint=checkpoint, weights_sha256=None,
                created=datetime.datetime.now().astimezone().isoformat(
                    timespec='seconds'))
    if checkpoint and osp.isfile(checkpoint):
        info['weights_sha256'] = sha256_file(checkpoint)
    return info


def write_per_image(records: Sequence[dict], path: str) -> None:
    """Write records as JSON lines, sorted by task and id (atomic)."""
    rows = sorted(records, key=lambda r: (r['task'], str(r['id'])))
    text = ''.join(json.dumps(row) + '\n' for row in rows)
    write_bytes_atomic(text.encode('utf-8'), path)


def read_per_image(path: str) -> List[dict]:
    """Read a ``per_image.jsonl``; every line needs ``id``, ``task`` and
    ``metrics``, and ids must be unique.

    Raises:
        DataError: Naming the file and line of a bad record.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'"{path}" does not exist')
    records, seen = [], set()
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f'{path}:{number}: not JSON ({err})') from err
            missing = [k for k in ('id', 'task', 'metrics')
                       if k not in record]
            if missing:
                raise DataError(f'{path}:{number}: the record lacks '
                                f'{missing}')
            if record['id'] in seen:
                raise DataError(f'{path}:{number}: id {record["id"]!r} '
                                'appears twice')
            seen.add(record['id'])
            records.append(record)
    if not records:
        raise DataError(f'{path} holds no records')
    return records


def _paired_scores(records_a: Sequence[dict], records_b: Sequence[dict],
                   metric: str) -> Dict[str, tuple]:
    """task -> ``(a, b, input or None)`` score arrays, paired by image id."""
    by_id_b = {r['id']: r for r in records_b}
    ids_a = {r['id'] for r in records_a}
    only_a = sorted(ids_a - set(by_id_b))
    only_b = sorted(set(by_id_b) - ids_a)
    if only_a or only_b:
        raise DataError(
            f'the runs scored different images: {len(only_a)} only in the '
            f'first (e.g. {only_a[:5]}), {len(only_b)} only in the second '
            f'(e.g. {only_b[:5]})')
    grouped: Dict[str, List[tuple]] = defaultdict(list)
    for rec in records_a:
        other = by_id_b[rec['id']]
        if other['task'] != rec['task']:
            raise DataError(f'image {rec["id"]!r} is task {rec["task"]!r} '
                            f'in the first run, {other["task"]!r} in the '
                            'second')
        pair = (rec['metrics'].get(metric), other['metrics'].get(metric),
                rec.get('input_metrics', {}).get(metric))
        if pair[0] is None or pair[1] is None:
            raise DataError(f'image {rec["id"]!r} has no {metric!r} in both '
                            'runs')
        grouped[rec['task']].append(pair)
    table = {}
    for task in sorted(grouped):
        a, b, inputs = zip(*grouped[task])
        table[task] = (np.array(a, np.float64), np.array(b, np.float64),
                       None if None in inputs else
                       np.array(inputs, np.float64))
    return table


def compare_runs(records_a: Sequence[dict], records_b: Sequence[dict],
                 metric: str = 'psnr', n_resamples: int = 10000,
                 confidence: float = 0.95, seed: int = 0) -> dict:
    """Paired comparison of run B against run A on one metric, per task and
    over tasks.

    Per task: means of A, B and (when every record of run A has
    ``input_metrics``) the degraded input, with bootstrap intervals; the
    difference ``B - A`` with its bootstrap interval; the paired t-test and
    Cohen's ``d_z`` (:mod:`featsel.evaluation.statistics`). ``'macro'``:
    unweighted means of the task values, intervals by the stratified
    bootstrap, and the t-test and ``d_z`` of all images' differences pooled
    (each image once; equal to the macro difference when the tasks have
    equally many images).

    Args:
        records_a, records_b (Sequence[dict]): Per-image records of the two
            runs, the same image ids.
        metric (str): ``'psnr'``, ``'ssim'`` or ``'lpips'``.
        n_resamples, confidence, seed: Bootstrap settings.

    Returns:
        dict: task (and ``'macro'``) -> ``{'n', 'a', 'b', 'input', 'diff'
        ({'mean', 'ci'} each; ``input`` None when unknown), 't', 'p', 'df',
        'd_z'}``.

    Raises:
        DataError: The runs scored different images or tasks.
    """
    paired = _paired_scores(records_a, records_b, metric)
    boot = dict(n_resamples=n_resamples, confidence=confidence, seed=seed)

    def ci(groups: List[np.ndarray]) -> dict:
        interval = macro_bootstrap_ci(groups, **boot)
        return dict(mean=interval.mean, ci=[interval.low, interval.high])

    def row(groups: List[tuple]) -> dict:
        test = paired_ttest(np.concatenate([g[0] for g in groups]),
                            np.concatenate([g[1] for g in groups]))
        known = all(g[2] is not None for g in groups)
        return dict(n=test.n, a=ci([g[0] for g in groups]),
                    b=ci([g[1] for g in groups]),
                    input=ci([g[2] for g in groups]) if known else None,
                    diff=ci([g[1] - g[0] for g in groups]), t=test.t,
                    p=test.p, df=test.df, d_z=test.d_z)

    result = {task: row([groups]) for task, groups in paired.items()}
    result['macro'] = row(list(paired.values()))
    return result
