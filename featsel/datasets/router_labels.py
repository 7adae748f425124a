r"""Utility labels of the MoE-I router (SPEC S3, seed 002 §3.2) and the data
set the router trains on.

``tools/analysis_tools/utility_labels.py`` runs the dense-unified model and
every expert on the images of a restoration data set and writes one JSON
line per image (:data:`LABEL_FIELDS`)::

    {"id": "scene_003_1_haze", "split": "train", "task": "dehaze",
     "degradation": "haze", "scene_id": "3", "severity": 0.62,
     "lq_path": "...", "gt_path": "...",
     "experts": ["dehaze", "derain", "desnow"],
     "mse": [0.0011, 0.0042, 0.0039], "psnr": [29.6, 23.8, 24.1],
     "dense_mse": 0.0016, "dense_psnr": 27.9,
     "oracle": 0, "oracle_expert": "dehaze",
     "soft_labels": {"20": [...], "50": [...], "80": [...]},
     "global_vec": [0.12, -0.40, ...]}

``mse`` and ``psnr`` are per expert (output clipped to [0, 1], the image's
``crop_border`` left out), ``oracle`` is ``argmin_k MSE_k``, the soft labels
are ``q = softmax(-beta * MSE)``
(:func:`~featsel.models.losses.soft_utility_labels`) and ``global_vec`` the
cached bottleneck vector of the global pass that inference runs too.

:class:`RouterLabelsDataset` reads such a file. Each item is packed for
:class:`~featsel.models.restorers.UtilityRouterModel`::

    {'inputs': {'global_vec': (D,) float32, ['image': (3, H, W) uint8]},
     'data_samples': BaseDataElement(soft_label (K,), oracle, psnr (K,),
                                     dense_psnr; metainfo img_id, task,
                                     split, scene_id, severity)}
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.structures import BaseDataElement

from featsel.registry import DATASETS
from featsel.utils import ConfigError, DataError
from .checks import require_samples

#: fields every label line has
LABEL_FIELDS = ('id', 'split', 'task', 'degradation', 'scene_id',
                'severity', 'lq_path', 'gt_path', 'experts', 'mse', 'psnr',
                'dense_mse', 'dense_psnr', 'oracle', 'oracle_expert',
                'soft_labels', 'global_vec')
SUBSETS = ('all', 'fit', 'holdout')


def read_labels(path: str) -> List[dict]:
    """Read a utility-label file, checking every line.

    Args:
        path (str): The JSONL file.

    Returns:
        list[dict]: One record per line, in file order.

    Raises:
        DataError: Naming the file and line of a line that is not JSON,
            lacks a field, has lists of the wrong length, or repeats an id.
    """
    if not osp.isfile(path):
        raise DataError(f'utility-label file "{path}" does not exist: write '
                        'it with tools/analysis_tools/utility_labels.py')
    records, seen = [], set()
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f'{path}, line {number}'
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f'{where}: not JSON ({err})') from err
            missing = [k for k in LABEL_FIELDS if k not in record]
            if missing:
                raise DataError(f'{where}: missing fields {missing}')
            k = len(record['experts'])
            for key in ('mse', 'psnr'):
                if len(record[key]) != k:
                    raise DataError(f'{where}: "{key}" has '
                                    f'{len(record[key])} values for {k} '
                                    'experts')
            if record['id'] in seen:
                raise DataError(f'{where}: id "{record["id"]}" appears '
                                'twice')
            seen.add(record['id'])
            record['line'] = number
            records.append(record)
    return records


def holdout_scenes(scene_ids: Sequence[str], fraction: float,
                   seed: int) -> set:
    """The scenes held out: ``max(1, round(fraction * S))`` of the ``S``
    distinct scenes (none when ``fraction`` is 0 or ``S < 2``), drawn by
    a seeded permutation of the sorted scene ids."""
    scenes = sorted(set(scene_ids))
    if fraction <= 0 or len(scenes) < 2:
        return set()
    count = min(len(scenes) - 1, max(1, round(fraction * len(scenes))))
    order = np.random.default_rng(seed).permutation(len(scenes))
    return {scenes[i] for i in order[:count]}


@DATASETS.register_module()
class RouterLabelsDataset(BaseDataset):
    """Images with their utility labels, for training and validating the
    MoE-I router (module docstring for the file and the packed items).

    Records are kept when their ``split`` is one of ``split``; then, by
    scene, ``subset='fit'`` keeps the scenes not held out and
    ``'holdout'`` the held-out ones (:func:`holdout_scenes`), so a router can
    be validated (and ``beta`` chosen) on scenes it never saw, apart from the
    calibration split. The soft labels are ``softmax(-beta * MSE)`` of the
    stored errors, columns in the order of ``experts``.

    Example config::

        dict(type='RouterLabelsDataset',
             data_root='work_dirs/moe_i_demo/labels/',
             ann_file='utility_labels.jsonl', split='train', subset='fit',
             beta=50., experts=['dehaze', 'derain', 'desnow'])

    Args:
        ann_file (str): The label file, relative to ``data_root``.
            Defaults to ``'utility_labels.jsonl'``.
        beta (float): Sharpness of the soft labels. Defaults to 50.
        experts (Sequence[str], optional): Column order (every expert must
            be in the file). None: the file's order.
        split (str | Sequence[str], optional): Splits kept; None keeps all.
        subset (str): ``'all'``, ``'fit'`` or ``'holdout'``. Defaults to
            ``'all'``.
        holdout_fraction (float): Share of scenes held out. Defaults to 0.2.
        holdout_seed (int): Seed of the held-out scenes. Defaults to 0.
        with_image (bool): Load the degraded image too (a local router).
            Defaults to False.
        **kwargs: ``data_root``, ``test_mode``, ... of
            :class:`mmengine.dataset.BaseDataset` (no ``pipeline``: items
            are packed here).
    """

    def __init__(self,
                 ann_file: str = 'utility_labels.jsonl',
                 beta: float = 50.0,
                 experts: Optional[Sequence[str]] = None,
                 split: Union[str, Sequence[str], None] = None,
                 subset: str = 'all',
                 holdout_fraction: float = 0.2,
                 holdout_seed: int = 0,
                 with_image: bool = False,
                 **kwargs) -> None:
        name = type(self).__name__
        if 'pipeline' in kwargs:
            raise ConfigError(f'{name} packs its items itself and takes no '
                              'pipeline')
        if not beta > 0:
            raise ConfigError(f'{name}.beta must be > 0, got {beta}')
        if subset not in SUBSETS:
            raise ConfigError(f'{name}.subset must be one of {SUBSETS}, got '
                              f'"{subset}"')
        if not 0 <= holdout_fraction < 1:
            raise ConfigError(f'{name}.holdout_fraction must lie in [0, 1), '
                              f'got {holdout_fraction}')
        self.beta = float(beta)
        self.experts = None if experts is None else tuple(experts)
        self.splits = None if split is None else (
            (split, ) if isinstance(split, str) else tuple(split))
        self.subset = subset
        self.holdout_fraction = holdout_fraction
        self.holdout_seed = holdout_seed
        self.with_image = with_image
        super().__init__(ann_file=ann_file, pipeline=[], **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read, filter and label the records (class docstring)."""
        from featsel.models.losses import soft_utility_labels
        records = read_labels(self.ann_file)
        kept = [r for r in records
                if self.splits is None or r['split'] in self.splits]
        if self.subset != 'all':
            held = holdout_scenes([self._scene(r) for r in kept],
                                  self.holdout_fraction, self.holdout_seed)
            kept = [r for r in kept
                    if (self._scene(r) in held) == (self.subset == 'holdout')]
        require_samples(
            kept, f'{type(self).__name__} "{self.ann_file}"',
            f'no image of split {self.splits or "(any)"}, subset '
            f'"{self.subset}"; the file holds splits '
            f'{sorted({r["split"] for r in records})}')
        experts = self.experts or tuple(kept[0]['experts'])
        columns = [self._columns(r, experts) for r in kept]
        mse = np.array([[r['mse'][c] for c in cols]
                        for r, cols in zip(kept, columns)], np.float64)
        labels = soft_utility_labels(mse, self.beta).float()
        self._metainfo['experts'] = experts
        data_list = []
        for r, cols, q in zip(kept, columns, labels):
            psnr = [r['psnr'][c] for c in cols]
            data_list.append(dict(
                img_id=r['id'], split=r['split'], task=r['task'],
                scene_id=self._scene(r), severity=r['severity'],
                lq_path=r['lq_path'], global_vec=r['global_vec'],
                soft_label=q, psnr=psnr, dense_psnr=r['dense_psnr'],
                oracle=experts.index(r['oracle_expert'])))
        return data_list

    @staticmethod
    def _scene(record: dict) -> str:
        scene = record.get('scene_id')
        return str(record['id'] if scene is None else scene)

    def _columns(self, record: dict, experts: Sequence[str]) -> List[int]:
        names = list(record['experts'])
        missing = [e for e in experts if e not in names]
        if missing:
            raise DataError(f'{self.ann_file}, line {record["line"]}: no '
                            f'labels of experts {missing} (the line has '
                            f'{names})')
        return [names.index(e) for e in experts]

    def prepare_data(self, idx: int) -> dict:
        """The packed item ``idx`` (module docstring)."""
        info = self.get_data_info(idx)
        inputs = dict(global_vec=torch.tensor(info['global_vec'],
                                              dtype=torch.float32))
        if self.with_image:
            import mmcv
            image = mmcv.imread(info['lq_path'], channel_order='rgb')
            if image is None:
                raise DataError(f'cannot read the image "{info["lq_path"]}" '
                                f'of {info["img_id"]}')
            inputs['image'] = torch.from_numpy(
                np.ascontiguousarray(image.transpose(2, 0, 1)))
        sample = BaseDataElement(
            metainfo={k: info[k] for k in ('img_id', 'task', 'split',
                                           'scene_id', 'severity')})
        sample.soft_label = info['soft_label']
        sample.psnr = torch.tensor(info['psnr'], dtype=torch.float64)
        sample.dense_psnr = float(info['dense_psnr'])
        sample.oracle = info['oracle']
        return dict(inputs=inputs, data_samples=sample)


def labels_by_task(records: Sequence[dict]) -> Dict[str, dict]:
    """Per task: images, mean PSNR of each expert and of the dense model,
    and how often each expert is the oracle (for the label summary)."""
    table: Dict[str, dict] = {}
    for task in sorted({r['task'] for r in records}):
        rows = [r for r in records if r['task'] == task]
        experts = rows[0]['experts']
        psnr = np.array([r['psnr'] for r in rows])
        table[task] = dict(
            n=len(rows),
            psnr={e: float(v) for e, v in zip(experts, psnr.mean(0))},
            dense_psnr=float(np.mean([r['dense_psnr'] for r in rows])),
            oracle={e: int(sum(r['oracle_expert'] == e for r in rows))
                    for e in experts})
    return table
