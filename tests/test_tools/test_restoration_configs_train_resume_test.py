"""Every restoration config trains, resumes and tests through the
command-line tools, shrunk to seconds (a two-level backbone on a tiny demo
set of 32 x 32 pairs); the experts start from a dense checkpoint, and
tools/restore.py writes what featsel.apis.restore computes."""
import glob
import json
import os.path as osp
from typing import List

import mmcv
import numpy as np
import pytest

from tests.tool_runner import run_tool

DEMO = ['dense_unified_demo', 'expert_dehaze_demo', 'expert_derain_demo',
        'expert_desnow_demo']
FULL = ['dense_unified_full', 'expert_dehaze_full', 'expert_derain_full',
        'expert_desnow_full']
#: a two-level backbone of 4 / 8 channels (token stride 8)
TINY_BACKBONE = {'model.backbone.embed_dims': [4, 8],
                 'model.backbone.token_dims': 8,
                 'model.backbone.token_pool': 2,
                 'model.backbone.num_layers': 1,
                 'model.backbone.num_heads': 2,
                 'model.backbone.crop_size': 32}
BACKBONE_OPTIONS = [f'{k}={v}'.replace(' ', '')
                    for k, v in TINY_BACKBONE.items()]


@pytest.fixture(scope='module')
def tiny_restoration_root(tmp_path_factory) -> str:
    """3 scenes (train / val / test), one pair per task, 32 x 32."""
    from featsel.datasets.restoration import make_demo_restoration
    root = str(tmp_path_factory.mktemp('demo_restoration') / 'set')
    make_demo_restoration(root, num_scenes=3, variants=1, size=32,
                          large_size=None)
    return root + '/'


def restoration_tiny_options(name: str, data_root: str, max_iters: int,
                             load_from: str = '') -> List[str]:
    """``--cfg-options`` that shrink a restoration config: a two-level
    backbone of 4/8 channels, crops 16 -> 32, an unfreezing at iteration
    2, a checkpoint and an evaluation every 2 iterations."""
    expert = name.startswith('expert')
    curriculum = 2 if expert else 1  # index in custom_hooks
    opts = [
        f'train_cfg.max_iters={max_iters}',
        'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1',
        'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1',
        f'param_scheduler.1.end={max_iters}',
        *BACKBONE_OPTIONS,
        f'custom_hooks.{curriculum}.crop_sizes=[16,32]',
        f'custom_hooks.{curriculum}.milestones=[2]',
        'val_evaluator.n_resamples=200',
        'test_evaluator.n_resamples=200',
    ]
    if expert:
        opts += ['custom_hooks.1.unfreeze_iter=2', f'load_from={load_from}']
    for split in ('train', 'val', 'test'):
        opts += [
            f'{split}_dataloader.dataset.data_root={data_root}',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            f'{split}_dataloader.batch_size=2',
        ]
    return opts


@pytest.fixture(scope='module')
def dense_checkpoint(tiny_restoration_root, tmp_path_factory) -> str:
    """A dense-unified checkpoint of the shrunk backbone."""
    work_dir = str(tmp_path_factory.mktemp('dense'))
    run_tool(['tools/train.py', 'configs/restoration/dense_unified_demo.py',
              '--work-dir', work_dir, '--cfg-options',
              *restoration_tiny_options('dense', tiny_restoration_root, 2)])
    return osp.join(work_dir, 'iter_2.pth')


@pytest.mark.parametrize('name', DEMO + FULL)
def test_config_trains_resumes_and_tests(name, tiny_restoration_root,
                                         dense_checkpoint, tmp_path):
    config = f'configs/restoration/{name}.py'
    work_dir = str(tmp_path / name)

    def options(max_iters: int) -> List[str]:
        return restoration_tiny_options(name, tiny_restoration_root,
                                        max_iters, dense_checkpoint)

    first = run_tool(['tools/train.py', config, '--work-dir', work_dir,
                      '--cfg-options', *options(2)])
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    if name.startswith('expert'):
        # only the adapters are missing from the dense checkpoint: six
        # tensors at each of the three decoder sites
        assert 'missing 18, unexpected 0, shape mismatched 0' in \
            first.stdout
    run_tool(['tools/train.py', config, '--work-dir', work_dir, '--resume',
              '--cfg-options', *options(4)])
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    resumed = open(logs[-1]).read()
    assert 'resumed epoch: 0, iter: 2' in resumed
    assert 'Iter(train) [4/4]' in resumed
    assert 'Iter(train) [1/4]' not in resumed
    assert 'PatchCurriculumHook: crop size 32 from iteration 2' in resumed
    if name.startswith('expert'):
        assert 'stage 2 from iteration 2' in resumed
    run_tool(['tools/test.py', config, osp.join(work_dir, 'iter_4.pth'),
              '--work-dir', work_dir, '--cfg-options', *options(4)])
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        report = json.load(f)
    assert [h['iter'] for h in report['history']] == [2, 4]
    assert {'psnr', 'ssim', 'input/psnr'} <= set(report['last_test'])
    records = glob.glob(osp.join(work_dir, '*', 'restoration',
                                 'per_image.jsonl'))
    assert records
    tasks = {json.loads(line)['task'] for line in open(max(
        records, key=osp.getmtime))}
    expected = ({'dehaze', 'derain', 'desnow'} if name.startswith('dense')
                else {name.split('_')[1]})
    assert tasks == expected


def test_restore_tool_writes_what_the_api_computes(tiny_restoration_root,
                                                   dense_checkpoint,
                                                   tmp_path):
    from featsel.apis import init_model, restore
    config = 'configs/restoration/dense_unified_demo.py'
    image = osp.join(tiny_restoration_root, 'lq', 'rain', 'scene_000_0.png')
    out = str(tmp_path / 'restored.png')
    proc = run_tool(['tools/restore.py', image, '--config', config,
                     '--checkpoint', dense_checkpoint, '--tile', '16',
                     '--overlap', '8', '--blend', 'hann', '--out', out,
                     '--cfg-options', *BACKBONE_OPTIONS])
    assert 'restored.png: 32x32' in proc.stdout
    written = mmcv.imread(out, channel_order='rgb')
    model = init_model(config, dense_checkpoint, cfg_options=TINY_BACKBONE)
    expected = restore(model, image, tile=16, overlap=8, blend='hann')
    assert written.shape == (32, 32, 3)
    np.testing.assert_array_equal(written, expected)
    bad = run_tool(['tools/restore.py', image, '--config', config, '--out',
                    str(tmp_path / 'x.jpg')], check=False)
    assert bad.returncode == 2 and '--out must be a .png' in bad.stderr
