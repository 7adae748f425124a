"""tools/train.py and tools/test.py end to end on the tiny demo set."""
import glob
import json
import os.path as osp
import pickle

import pytest

from tests.tool_runner import run_tool, tiny_options


def test_train_then_test_writes_checkpoints_reports_and_pictures(
        demo_root, tmp_path):
    work_dir = str(tmp_path / 'e6')
    run_tool(['tools/train.py', 'configs/e6_patchgate.py', '--work-dir',
              work_dir, '--cfg-options', 'model.decoder.channels=8',
              *tiny_options(demo_root)])
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        report = json.load(f)
    assert [e['iter'] for e in report['history']] == [2, 4]
    metrics = report['last']['metrics']
    for key in ('seg/dice', 'seg/iou', 'seg/dice_all_fg', 'sdf/mae',
                'bnd/f_score'):
        assert key in metrics

    out_pkl = str(tmp_path / 'preds.pkl')
    run_tool(['tools/test.py', 'configs/e6_patchgate.py',
              osp.join(work_dir, 'iter_4.pth'), '--work-dir', work_dir,
              '--show-dir', 'vis', '--out', out_pkl, '--cfg-options',
              'model.decoder.channels=8', *tiny_options(demo_root)])
    pictures = glob.glob(osp.join(work_dir, '*', 'vis', '*.png'))
    assert len(pictures) == 8  # one per val image
    with open(out_pkl, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 8 and 'pred_seg' in preds[0]
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        report = json.load(f)
    assert 'seg/dice' in report['last_test']
    assert report['last_test_checkpoint'] == osp.join(work_dir, 'iter_4.pth')
    assert len(report['history']) == 2  # training history kept


def test_amp_flag(monkeypatch):
    """--amp selects AmpOptimWrapper on a GPU and is refused on a CPU."""
    import argparse

    import torch
    from mmengine.config import Config

    from tools.train import merge_train_args
    args = argparse.Namespace(amp=True, resume=None)
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = merge_train_args(cfg, args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match='--amp needs a GPU'):
        merge_train_args(cfg, args)
