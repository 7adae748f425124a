"""Utility labels for the MoE-I router: ``python
tools/analysis_tools/utility_labels.py --dense CONFIG CKPT --expert dehaze
CONFIG CKPT --expert derain ... --splits train val --out-dir DIR``.

Every image of the chosen splits of the dense config's test data set (or
``--data-root``) is restored by the dense-unified model and by every expert,
"global, then tile", from one shared global pass
(:class:`featsel.apis.moe_inference.MoEIRestorer`). Per image one JSON line
goes to ``DIR/utility_labels.jsonl`` (schema in
:mod:`featsel.datasets.router_labels`): ``MSE_k`` and ``PSNR_k`` of each
expert, the dense model's, the oracle expert ``k*``, soft labels ``q =
softmax(-beta * MSE)`` for each ``--betas`` and the cached ``global_vec``.
``DIR/utility_labels.json`` holds the settings (models and their SHA-256,
tiling, splits) and, once every image is done, a summary per task.

Resumable: each line is written and flushed as soon as its image is done;
a run on an existing folder checks that the settings are the same, drops a
half-written last line, skips the images already labelled and continues.
``--max-images N`` stops after ``N`` new images (work in chunks).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import BaseDataElement  # noqa: E402

from featsel.apis.moe_inference import DENSE_NAME, MoEIRestorer  # noqa: E402
from featsel.apis.restoration import BLENDS  # noqa: E402
from featsel.datasets.router_labels import (labels_by_task,  # noqa: E402
                                            read_labels)
from featsel.evaluation.restoration import psnr  # noqa: E402
from featsel.evaluation.restoration_report import sha256_file  # noqa: E402
from featsel.models.losses import soft_utility_labels  # noqa: E402
from featsel.utils import ConfigError, DataError  # noqa: E402
from featsel.utils import dump_json_atomic  # noqa: E402
from featsel.utils.cli import CfgOptionsAction, run_cli  # noqa: E402

LABELS_FILE = 'utility_labels.jsonl'
SETTINGS_FILE = 'utility_labels.json'
BETAS = (20.0, 50.0, 80.0)
#: tiling of an inference when neither the options nor the config say
DEFAULT_TILING = dict(tile=512, overlap=64, blend='hann', context=0)


# ---------------------------------------------------------------------- #
# shared by the MoE-I tools
# ---------------------------------------------------------------------- #
def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The restorers (dense, experts), their tiling and the device."""
    parser.add_argument('--dense', nargs=2, required=True,
                        metavar=('CONFIG', 'CHECKPOINT'),
                        help='the dense-unified model')
    parser.add_argument('--expert', nargs=3, action='append', required=True,
                        metavar=('NAME', 'CONFIG', 'CHECKPOINT'),
                        help='an expert (NAME = its adapter task); repeat '
                        'per expert, in the order of the router outputs')
    parser.add_argument('--global-source', default=None,
                        help='model whose encoder and bottleneck make the '
                        'cached global pass ("dense", the default, or an '
                        'expert)')
    parser.add_argument('--tile', type=int, help='largest tile side '
                        '(default: the dense config\'s model.test_cfg, '
                        'else 512)')
    parser.add_argument('--overlap', type=int, help='tile overlap '
                        '(default: the config\'s, else 64)')
    parser.add_argument('--blend', choices=BLENDS,
                        help='tile blending (default: the config\'s, else '
                        'hann)')
    parser.add_argument('--context', type=int, help='context margin of '
                        'each tile (default: the config\'s, else 0)')
    parser.add_argument('--data-root', help='restoration data set folder '
                        '(default: the dense config\'s test data root)')
    parser.add_argument('--device', default='cpu', help='torch device')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='overrides of the dense and expert configs')


def expert_files(args: argparse.Namespace) -> Dict[str, Tuple[str, str]]:
    """``{name: (config, checkpoint)}`` of ``--expert``, in order."""
    experts: Dict[str, Tuple[str, str]] = {}
    for name, config, checkpoint in args.expert:
        if name in experts or name == DENSE_NAME:
            raise ConfigError(f'--expert {name} is given twice or is named '
                              f'"{DENSE_NAME}"')
        experts[name] = (config, checkpoint)
    return experts


def build_moe(args: argparse.Namespace, router_dir: Optional[str] = None,
              local_router_dir: Optional[str] = None) -> MoEIRestorer:
    """The MoE-I restorer of the model arguments; the tiling defaults to
    the dense config's ``model.test_cfg``."""
    tiling = {k: getattr(args, k) for k in DEFAULT_TILING
              if getattr(args, k) is not None}
    if args.global_source is not None:
        tiling['global_source'] = args.global_source
    moe = MoEIRestorer.from_files(
        tuple(args.dense), expert_files(args), router_dir, local_router_dir,
        args.device, args.cfg_options, **tiling)
    test_cfg = moe_dense_cfg(moe).model.get('test_cfg') or {}
    for key, default in DEFAULT_TILING.items():
        if key not in tiling:
            setattr(moe, key, test_cfg.get(key, default))
    return moe


def moe_dense_cfg(moe: MoEIRestorer):
    """The merged config of the dense model (``init_model`` keeps it)."""
    return moe.dense_model.cfg


def restoration_dataset(cfg, split: str, data_root: Optional[str]):
    """The config's test data set of restoration pairs, for ``split``."""
    from featsel.registry import DATASETS
    dataset_cfg = dict(cfg.test_dataloader.dataset)
    dataset_cfg['split'] = split
    if data_root is not None:
        dataset_cfg['data_root'] = data_root
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')
                                              or 'featsel'):
        return DATASETS.build(dataset_cfg)


def iter_pairs(dataset, skip: Sequence[str] = ()
               ) -> Iterator[Tuple[torch.Tensor, torch.Tensor,
                                   BaseDataElement]]:
    """``(x, gt, sample)`` of every pair not in ``skip``: ``x`` and ``gt``
    float ``(1, 3, H, W)`` in [0, 1], ``sample`` with the metainfo."""
    skip = set(skip)
    for index in range(len(dataset)):
        if dataset.get_data_info(index)['img_id'] in skip:
            continue
        item = dataset[index]
        sample = item['data_samples']
        if 'gt_img' not in sample:
            raise DataError(f'{sample.img_id}: no clean image')
        yield (item['inputs'][None].float() / 255,
               sample.gt_img[None].float() / 255, sample)


def mse_psnr(y: torch.Tensor, gt: torch.Tensor,
             crop_border: int) -> Tuple[float, float]:
    """MSE and PSNR of ``y`` clipped to [0, 1] against ``gt`` (the metric's
    definition), ``crop_border`` pixels left out on every side."""
    y, gt = y.clamp(0, 1).double(), gt.double()
    c = crop_border
    cropped = (y - gt)[..., c:y.shape[-2] - c, c:y.shape[-1] - c]
    return (cropped.pow(2).mean().item(),
            psnr(y, gt, crop_border=c).item())


# ---------------------------------------------------------------------- #
# labels
# ---------------------------------------------------------------------- #
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run every expert and the dense model on labelled '
        'images and write their utilities, oracle experts, soft labels and '
        'cached global vectors (resumable)')
    add_model_args(parser)
    parser.add_argument('--splits', nargs='+', default=['train', 'val'],
                        help='splits to label (default: train val)')
    parser.add_argument('--betas', nargs='+', type=float,
                        default=list(BETAS),
                        help='soft-label sharpness values (default 20 50 '
                        '80)')
    parser.add_argument('--out-dir', required=True,
                        help=f'folder of {LABELS_FILE} and {SETTINGS_FILE}')
    parser.add_argument('--max-images', type=int,
                        help='stop after labelling this many new images')
    return parser.parse_args(argv)


def settings_of(args: argparse.Namespace, moe: MoEIRestorer) -> dict:
    """What a label file depends on (compared when resuming)."""
    models = {DENSE_NAME: args.dense}
    models.update({n: [c, k] for n, (c, k) in expert_files(args).items()})
    return dict(
        experts=list(moe.experts), global_source=moe.global_source,
        betas=[float(b) for b in args.betas], splits=list(args.splits),
        data_root=args.data_root, cfg_options=args.cfg_options or {},
        tiling=dict(tile=moe.tile, overlap=moe.overlap, blend=moe.blend,
                    context=moe.context),
        models={name: dict(config=config, checkpoint=checkpoint,
                           sha256=sha256_file(checkpoint))
                for name, (config, checkpoint) in models.items()})


def resume_state(out_dir: str, settings: dict) -> List[str]:
    """Check an existing folder against ``settings``, drop a half-written
    last line, and return the ids already labelled."""
    labels = osp.join(out_dir, LABELS_FILE)
    meta = osp.join(out_dir, SETTINGS_FILE)
    if not osp.isfile(labels):
        return []
    if not osp.isfile(meta):
        raise DataError(f'{labels} exists without {meta}: remove it or '
                        'choose another --out-dir')
    with open(meta, encoding='utf-8') as f:
        old = json.load(f).get('settings', {})
    changed = sorted(k for k in set(old) | set(settings)
                     if old.get(k) != settings.get(k))
    if changed:
        raise DataError(f'{labels} was written with other settings '
                        f'({", ".join(changed)} differ): remove the folder '
                        'or choose another --out-dir')
    with open(labels, 'rb') as f:
        data = f.read()
    end = data.rfind(b'\n') + 1
    if end < len(data):
        print(f'dropping a half-written last line of {labels}')
        with open(labels, 'r+b') as f:
            f.truncate(end)
    return [r['id'] for r in read_labels(labels)] if end else []


def label_record(moe: MoEIRestorer, x: torch.Tensor, gt: torch.Tensor,
                 sample: BaseDataElement, split: str,
                 betas: Sequence[float]) -> dict:
    """The label line of one image (schema in
    :mod:`featsel.datasets.router_labels`)."""
    global_vec, outputs = moe.run_all(x)
    crop = int(sample.metainfo.get('crop_border') or 0)
    scores = {name: mse_psnr(y.cpu(), gt, crop)
              for name, y in outputs.items()}
    experts = list(moe.experts)
    mse = [scores[e][0] for e in experts]
    oracle = int(np.argmin(mse))
    meta = sample.metainfo
    return dict(
        id=str(meta['img_id']), split=split, task=meta.get('task'),
        degradation=meta.get('degradation'),
        scene_id=None if meta.get('scene_id') is None else str(
            meta['scene_id']),
        severity=meta.get('severity'), lq_path=meta.get('lq_path'),
        gt_path=meta.get('gt_path'), experts=experts, mse=mse,
        psnr=[scores[e][1] for e in experts],
        dense_mse=scores[DENSE_NAME][0], dense_psnr=scores[DENSE_NAME][1],
        oracle=oracle, oracle_expert=experts[oracle],
        soft_labels={f'{b:g}': soft_utility_labels(np.array([mse]),
                                                  b)[0].tolist()
                     for b in betas},
        global_vec=global_vec[0].cpu().double().tolist())


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.max_images is not None and args.max_images < 1:
        raise ConfigError(f'--max-images must be >= 1, got '
                          f'{args.max_images}')
    moe = build_moe(args)
    settings = settings_of(args, moe)
    done = set(resume_state(args.out_dir, settings))
    if done:
        print(f'resuming: {len(done)} images already labelled')
    os.makedirs(args.out_dir, exist_ok=True)
    meta_path = osp.join(args.out_dir, SETTINGS_FILE)
    dump_json_atomic(dict(settings=settings, complete=False), meta_path)
    cfg = moe_dense_cfg(moe)
    written = 0
    with open(osp.join(args.out_dir, LABELS_FILE), 'a',
              encoding='utf-8') as out:
        for split in args.splits:
            dataset = restoration_dataset(cfg, split, args.data_root)
            for x, gt, sample in iter_pairs(dataset, done):
                if args.max_images is not None \
                        and written >= args.max_images:
                    print(f'stopped after {written} new images (--max-'
                          'images); run again to continue')
                    return
                record = label_record(moe, x, gt, sample, split,
                                      args.betas)
                out.write(json.dumps(record) + '\n')
                out.flush()
                os.fsync(out.fileno())
                written += 1
    records = read_labels(osp.join(args.out_dir, LABELS_FILE))
    summary = {split: labels_by_task([r for r in records
                                      if r['split'] == split])
               for split in args.splits}
    dump_json_atomic(dict(settings=settings, complete=True,
                          summary=summary), meta_path)
    print(f'{written} new, {len(records)} images labelled in '
          f'{args.out_dir}')
    for split, tasks in summary.items():
        for task, row in tasks.items():
            experts = ', '.join(f'{e} {v:.2f}' for e, v in
                                row['psnr'].items())
            print(f'{split} {task} (n={row["n"]}): PSNR {experts}, dense '
                  f'{row["dense_psnr"]:.2f}; oracle {row["oracle"]}')


if __name__ == '__main__':
    run_cli(main)
