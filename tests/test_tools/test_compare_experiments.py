"""tools/analysis_tools/compare_experiments.py on two fake work dirs (an
``eval_results.json`` and a config dump each, tiny models, 32x32 costs)."""
import csv
import json
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import REPO_ROOT
from tests.test_tools.test_benchmark import load_tool

TINY = {
    'model.encoder.base_channels': 4,
    'model.head.channels': 4,
}
RUNS = {
    'baseline_multitask': (dict(TINY), {
        'last': dict(epoch=0, iter=400, metrics={
            'seg/dice': 0.71, 'seg/iou': 0.60, 'seg/dice_all_fg': 0.2,
            'sdf/mae': 0.12, 'bnd/precision': 0.5, 'bnd/recall': 0.4,
            'bnd/f_score': 0.44}),
    }),
    'e6_patchgate': (dict(TINY, **{'model.decoder.channels': 4}), {
        'last': dict(epoch=0, iter=400, metrics={
            'seg/dice': 0.70, 'seg/iou': 0.58, 'sdf/mae': 0.10,
            'bnd/f_score': 0.47}),
        'last_test': {'seg/dice': 0.75, 'seg/iou': 0.62, 'sdf/mae': 0.09,
                      'bnd/f_score': 0.50},
    }),
}
COST_ARGS = ['--shape', '32', '32', '--batch-size', '1', '--warmup', '0',
             '--repeats', '1', '--threads', '1']


@pytest.fixture(scope='module')
def tool():
    return load_tool('compare_experiments')


@pytest.fixture(scope='module')
def work_dirs(tmp_path_factory):
    """Work dirs as a training run leaves them: the dumped config
    ``<name>.py`` and ``eval_results.json``."""
    root = tmp_path_factory.mktemp('work_dirs')
    dirs = []
    for name, (options, results) in RUNS.items():
        work_dir = root / name
        work_dir.mkdir()
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', f'{name}.py'))
        cfg.merge_from_dict(options)
        cfg.dump(str(work_dir / f'{name}.py'))
        (work_dir / 'eval_results.json').write_text(
            json.dumps(dict(history=[results['last']], **results)))
        dirs.append(str(work_dir))
    return dirs


@pytest.fixture(scope='module')
def outputs(tool, work_dirs, tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp('compare'))
    return tool.main(work_dirs + ['--out-dir', out_dir] + COST_ARGS)


def _csv_rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_writes_markdown_csv_and_png(outputs):
    assert sorted(outputs) == ['csv', 'md', 'png']
    for path in outputs.values():
        assert osp.getsize(path) > 0
    with open(outputs['png'], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_csv_has_one_row_per_experiment_with_metrics_and_costs(outputs):
    rows = _csv_rows(outputs['csv'])
    assert [r['experiment'] for r in rows] == list(RUNS)
    base, e6 = rows
    assert list(base)[:5] == ['experiment', 'seg Dice', 'seg IoU',
                              'sdf MAE', 'bnd F-score']
    # validation metrics without a test result; the test when present
    assert base['metrics from'] == 'val@iter 400'
    assert float(base['seg Dice']) == pytest.approx(0.71)
    assert float(base['bnd F-score']) == pytest.approx(0.44)
    assert e6['metrics from'] == 'test'
    assert float(e6['sdf MAE']) == pytest.approx(0.09)
    for row in rows:
        for key in ('params (M)', 'FLOPs (GFLOPs)', 'train step (ms/batch)',
                    'inference (ms/MPix)'):
            assert float(row[key]) > 0
        assert row['config'].endswith(f"{row['experiment']}.py")
    # precision/recall and the trivial-predictor scores are not columns
    assert not any('dice_all' in k or 'precision' in k for k in base)


def conv_and_linear_flops(model, batch) -> int:
    """An independent count: 2 x the multiply-adds of every Conv2d and
    Linear call of one inference step, from the modules' shapes
    (``C_out * C_in / groups * k_h * k_w`` per output pixel,
    ``in * out`` per linear row)."""
    import torch
    from torch import nn
    total = [0]

    def conv(m, _inputs, out):
        per_pixel = m.out_channels * m.in_channels // m.groups * \
            m.kernel_size[0] * m.kernel_size[1]
        total[0] += 2 * per_pixel * out.shape[0] * out.shape[-2] * \
            out.shape[-1]

    def linear(m, _inputs, out):
        total[0] += 2 * m.in_features * m.out_features * \
            out.numel() // m.out_features

    handles = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d)
                                       else linear)
               for m in model.modules()
               if type(m) in (nn.Conv2d, nn.Linear)]
    model.eval()
    with torch.no_grad():
        model.test_step(batch)
    for h in handles:
        h.remove()
    return total[0]


def test_costs_match_an_independent_count(outputs, work_dirs):
    from featsel.analysis.inputs import synthetic_batch
    from featsel.analysis.models import ModelSpec, build_model
    rows = {r['experiment']: r for r in _csv_rows(outputs['csv'])}
    for work_dir in work_dirs:
        name = osp.basename(work_dir)
        model = build_model(ModelSpec(osp.join(work_dir, f'{name}.py')))
        assert float(rows[name]['params (M)']) == pytest.approx(
            sum(p.numel() for p in model.parameters()) / 1e6)
        flops = conv_and_linear_flops(model, synthetic_batch(model, 1,
                                                             (32, 32)))
        assert flops > 0
        assert float(rows[name]['FLOPs (GFLOPs)']) == pytest.approx(
            flops / 1e9, rel=1e-12)  # the CSV holds full precision


def test_markdown_table_marks_the_best_metric(outputs):
    with open(outputs['md']) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith('| experiment | seg Dice | seg IoU |')
    base = next(line for line in lines if line.startswith('| baseline'))
    e6 = next(line for line in lines if line.startswith('| e6_patchgate'))
    assert '| **0.7500** |' in e6 and '| 0.7100 |' in base
    assert '| **0.0900** |' in e6  # MAE: lower is better
    assert any('2 per multiply-add' in line for line in lines)


def test_metrics_only_and_missing_results(tool, work_dirs, tmp_path):
    empty = tmp_path / 'e1_taskdw'
    empty.mkdir()  # trained nowhere yet: no eval_results.json, no dump
    paths = tool.main([work_dirs[0], str(empty), '--no-cost', '--out-dir',
                       str(tmp_path / 'out')])
    rows = _csv_rows(paths['csv'])
    assert [r['experiment'] for r in rows] == ['baseline_multitask',
                                               'e1_taskdw']
    assert rows[1]['seg Dice'] == '' and rows[1]['metrics from'] == 'missing'
    assert not any(k.startswith('params') for k in rows[0])
    with open(paths['md']) as f:
        assert '| e1_taskdw | - | - | - | - | missing |' in f.read()


def test_configs_option_reads_work_root(tool, work_dirs, tmp_path):
    configs = [osp.join(REPO_ROOT, 'configs', f'{name}.py') for name in RUNS]
    paths = tool.main(['--configs', *configs, '--work-root',
                       osp.dirname(work_dirs[0]), '--split', 'val',
                       '--no-cost', '--out-dir', str(tmp_path)])
    rows = _csv_rows(paths['csv'])
    assert [r['metrics from'] for r in rows] == ['val@iter 400'] * 2
    assert float(rows[1]['seg Dice']) == pytest.approx(0.70)
    assert rows[0]['config'] == configs[0]


def test_bad_arguments(tool, work_dirs, tmp_path):
    with pytest.raises(SystemExit):
        tool.parse_args([])
    with pytest.raises(SystemExit):
        tool.parse_args([work_dirs[0], '--configs', 'a.py'])
    with pytest.raises(FileNotFoundError, match='does not exist'):
        tool.main([str(tmp_path / 'nowhere'), '--no-cost'])
    with pytest.raises(FileNotFoundError, match='no config dump'):
        tool.main([str(tmp_path)])
