"""The accuracy-and-cost report joins eval_results.json and costs.json."""
import json
import os.path as osp

from featsel.utils import dump_json_atomic
from tests.tool_runner import run_tool


def _run_dir(root, name, metrics, test=False):
    work_dir = osp.join(root, name)
    report = {'history': [{'epoch': 12, 'iter': 720, 'metrics': metrics}],
              'last': {'epoch': 12, 'iter': 720, 'metrics': metrics}}
    if test:
        report['last_test'] = {k: v + 0.01 for k, v in metrics.items()}
    dump_json_atomic(report, osp.join(work_dir, 'eval_results.json'))
    return work_dir


def _costs(root):
    def model(params, gflops, ms):
        return dict(params_m=params, shapes={'640x640': dict(
            gflops=dict(total=gflops), latency_ms=ms)})
    path = osp.join(root, 'costs.json')
    dump_json_atomic(dict(shapes=['640x640'], models=dict(
        rtdetr_r18=model(19.95, 60.2, 400.0),
        dset_r18=model(23.66, 60.8, 500.0))), path)
    return path


def test_report_joins_metrics_and_costs(tmp_path):
    root = str(tmp_path)
    metrics = {'coco/bbox_mAP': 0.5, 'coco/bbox_mAP_50': 0.7,
               'coco/bbox_mAP_75': 0.55}
    dirs = [_run_dir(root, 'rtdetr_r18', metrics),
            _run_dir(root, 'dset_r18', metrics, test=True)]
    out = osp.join(root, 'out')
    run_tool(['tools/analysis_tools/dset_report.py', *dirs, '--costs',
              _costs(root), '--out-dir', out])
    rows = {r['name']: r for r in json.load(
        open(osp.join(out, 'report.json')))}
    assert rows['rtdetr_r18']['mAP'] == 0.5
    assert rows['rtdetr_r18']['source'] == 'val@iter 720'
    assert rows['dset_r18']['mAP@0.75'] == 0.56  # the test result wins
    assert rows['dset_r18']['fps'] == 2.0
    md = open(osp.join(out, 'report.md')).read()
    assert '| dset_r18 |' in md and '| 60.8 |' in md
    assert '2 per multiply-add' in md
    assert osp.getsize(osp.join(out, 'report.png')) > 1000


def test_shape_missing_from_costs_is_named(tmp_path):
    root = str(tmp_path)
    proc = run_tool(['tools/analysis_tools/dset_report.py',
                     _run_dir(root, 'x', {}), '--costs', _costs(root),
                     '--shape', '320x320', '--out-dir', root], check=False)
    assert proc.returncode == 2
    assert '320x320' in proc.stderr.strip().splitlines()[-1]
