"""The MoE-I chain through its tools on a tiny demo set and tiny restorers
(tools/analysis_tools/run_moe_i_demo.sh: utility labels, three beta
routers and a local one, choice and calibration, evaluation in every mode,
report); resumable labels; forced misrouting at its exact rate; one global
pass per image; every router config trains, resumes and tests through
tools/train.py and tools/test.py."""
import glob
import json
import os
import os.path as osp
from typing import List

import pytest
import torch

from featsel.evaluation.calibration import read_calibration
from tests.tool_runner import run_tool

TINY_BACKBONE = {'model.backbone.embed_dims': [4, 8],
                 'model.backbone.token_dims': 8,
                 'model.backbone.token_pool': 2,
                 'model.backbone.num_layers': 1,
                 'model.backbone.num_heads': 2,
                 'model.backbone.crop_size': 32}
RESTORER_OPTIONS = [f'{k}={v}'.replace(' ', '')
                    for k, v in TINY_BACKBONE.items()]
TASKS = ('dehaze', 'derain', 'desnow')
ROUTERS = ['router_global_b20_demo', 'router_global_b50_demo',
           'router_global_b80_demo', 'router_local_demo']


@pytest.fixture(scope='module')
def s3_dir(tmp_path_factory) -> dict:
    """A tiny demo set (12 scenes of 32 x 32: 8 train, 2 val, 2 test per
    task) and tiny restorers in the layout of `make demo-restoration`: a
    dense model and three experts whose adapters and top decoder layers
    were moved at random from it (encoder and bottleneck shared)."""
    from featsel.apis import init_model
    from featsel.datasets.restoration import make_demo_restoration
    root = tmp_path_factory.mktemp('moe_i')
    data = str(root / 'set')
    make_demo_restoration(data, num_scenes=12, variants=1, size=32,
                          large_size=None)
    torch.manual_seed(0)
    dense = init_model('configs/restoration/dense_unified_demo.py',
                       cfg_options=TINY_BACKBONE)

    def save(model, name: str) -> None:
        folder = root / 's3' / name
        folder.mkdir(parents=True)
        path = str(folder / 'iter_2.pth')
        torch.save(dict(state_dict=model.state_dict(), meta={}), path)
        (folder / 'last_checkpoint').write_text(path)

    save(dense, 'dense_unified_demo')
    for k, task in enumerate(TASKS):
        expert = init_model(f'configs/restoration/expert_{task}_demo.py',
                            cfg_options=TINY_BACKBONE)
        expert.load_state_dict(dense.state_dict(), strict=False)
        g = torch.Generator().manual_seed(k)
        for name, p in expert.named_parameters():
            if name.startswith(('backbone.decoder.2', 'backbone.head',
                                'backbone.adapters')):
                p.data += 0.05 * torch.randn(p.shape, generator=g)
        save(expert, f'expert_{task}_demo')
    return dict(data=data + '/', s3=str(root / 's3'), root=str(root))


def _env(s3_dir: dict, work_dir: str) -> dict:
    return dict(
        S3_DIR=s3_dir['s3'], WORK_DIR=work_dir, DATA_ROOT=s3_dir['data'],
        RESTORER_OPTS=' '.join(RESTORER_OPTIONS),
        ROUTER_OPTS='model.router.in_dims=8 train_cfg.max_epochs=2 '
        'train_cfg.val_interval=2 default_hooks.checkpoint.interval=2 '
        'train_dataloader.batch_size=4',
        TILING='--tiling 16 8 uniform', LATENCY_IMAGE='',
        EVAL_OPTS='--tile 16 --overlap 8 --n-resamples 200 --memory')


@pytest.fixture(scope='module')
def chain(s3_dir) -> str:
    """The whole chain, run once by the demo script."""
    import subprocess
    import sys
    work_dir = osp.join(s3_dir['root'], 'chain')
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               **_env(s3_dir, work_dir))
    proc = subprocess.run(['bash', 'tools/analysis_tools/run_moe_i_demo.sh'],
                          env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work_dir


def _records(path: str) -> List[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_the_chain_writes_every_output(chain):
    labels = _records(osp.join(chain, 'labels', 'utility_labels.jsonl'))
    assert len(labels) == 24 + 6  # train and val, three tasks
    assert {r['split'] for r in labels} == {'train', 'val'}
    with open(osp.join(chain, 'router', 'router.json')) as f:
        router = json.load(f)
    betas = [c['beta'] for c in router['candidates']]
    assert betas == [20., 50., 80.] and router['beta'] in betas
    best = min(router['candidates'], key=lambda c: (
        round(c['scores']['oracle_gap'], 9), c['scores']['nll']))
    assert router['beta'] == best['beta']
    assert router['global_source'] == 'dense'
    calibration = read_calibration(osp.join(chain, 'router',
                                            'calibration.json'))
    assert calibration.split_sizes['calibration'] == 6
    assert calibration.abstention <= 0.1
    assert calibration.nll_after <= calibration.nll_before + 1e-9
    with open(osp.join(chain, 'eval', 'moe_i_summary.json')) as f:
        summary = json.load(f)
    assert list(summary['runs']) == [
        'moe_oracle', 'dense', 'moe_actual', 'top2', 'local_router',
        'forced_misroute_05', 'forced_misroute_10', 'forced_misroute_20',
        'moe_actual_t16_o8_uniform']
    assert set(summary['bars']) == {
        'actual_minus_dense_db', 'oracle_gap_db', 'ece', 'abstention',
        'misroute_10_drop_db', 'routing_overhead'}
    runs = summary['runs']
    assert summary['bars']['oracle_gap_db']['value'] == pytest.approx(
        runs['moe_oracle']['macro']['psnr']
        - runs['moe_actual']['macro']['psnr'])
    assert runs['moe_oracle']['macro']['psnr'] >= max(
        runs[n]['macro']['psnr'] for n in ('dense', 'moe_actual', 'top2'))
    report = osp.join(chain, 'report')
    for name in ('reliability', 'coverage_accuracy', 'misrouting',
                 'severity_gains', 'pareto'):
        assert osp.getsize(osp.join(report, f'{name}.png')) > 1000
    text = open(osp.join(report, 'moe_i_report.md')).read()
    assert 'PSNR: dense-unified vs MoE-I' in text
    assert 'Success bars' in text


def test_actual_runs_one_global_pass_and_obeys_tau(chain):
    with open(osp.join(chain, 'eval', 'moe_i_summary.json')) as f:
        summary = json.load(f)
    tau = summary['router']['tau']
    records = _records(osp.join(chain, 'eval', 'moe_actual',
                                'per_image.jsonl'))
    assert len(records) == 6
    for r in records:
        moe, cost = r['moe'], r['cost']
        assert cost['encoder_passes'] == 1
        assert len(cost['decoded']) == 1 and cost['peak_mem_mib'] > 0
        assert moe['abstained'] == (max(moe['probs']) < tau)
        assert moe['pmax'] == pytest.approx(max(moe['probs']))
        expected = -1 if moe['abstained'] else max(
            range(3), key=moe['probs'].__getitem__)
        assert moe['route_index'] == expected
        assert 0 <= cost['routing_overhead'] < 1


@pytest.mark.parametrize('run,wrong', [('forced_misroute_05', 0),
                                       ('forced_misroute_10', 1),
                                       ('forced_misroute_20', 1)])
def test_forced_misrouting_sends_round_rate_n_images_astray(chain, run,
                                                            wrong):
    records = _records(osp.join(chain, 'eval', run, 'per_image.jsonl'))
    oracle = _records(osp.join(chain, 'eval', 'moe_oracle',
                               'per_image.jsonl'))
    truth = {r['id']: r['moe']['route_index'] for r in oracle}
    astray = [r for r in records if r['moe']['route_index'] != truth[r['id']]]
    assert len(astray) == wrong  # round(rate * 6), half to even
    for r in records:
        assert r['moe']['oracle'] == truth[r['id']]
        if r['moe']['route_index'] == truth[r['id']]:
            assert r['metrics']['psnr'] == pytest.approx(next(
                o['metrics']['psnr'] for o in oracle if o['id'] == r['id']))


def test_misroute_cost_is_the_best_minus_the_other_experts(chain):
    oracle = _records(osp.join(chain, 'eval', 'moe_oracle',
                               'per_image.jsonl'))
    with open(osp.join(chain, 'eval', 'moe_i_summary.json')) as f:
        summary = json.load(f)
    gaps = {}
    for r in oracle:
        psnr = sorted(r['moe']['expert_psnr'].values(), reverse=True)
        gaps.setdefault(r['task'], []).append(
            psnr[0] - sum(psnr[1:]) / len(psnr[1:]))
    expected = {t: sum(g) / len(g) for t, g in gaps.items()}
    expected['macro'] = sum(expected.values()) / len(TASKS)
    cost = summary['misroute_cost_db']
    assert cost == pytest.approx(expected)
    for m in summary['misroute'].values():
        assert m['expected_drop_db'] == pytest.approx(
            m['misrouted'] / summary['n'] * expected['macro'])


def _label_args(s3_dir: dict, out_dir: str) -> List[str]:
    args = ['tools/analysis_tools/utility_labels.py', '--dense',
            'configs/restoration/dense_unified_demo.py',
            osp.join(s3_dir['s3'], 'dense_unified_demo', 'iter_2.pth')]
    for task in TASKS:
        args += ['--expert', task,
                 f'configs/restoration/expert_{task}_demo.py',
                 osp.join(s3_dir['s3'], f'expert_{task}_demo', 'iter_2.pth')]
    return args + ['--data-root', s3_dir['data'], '--splits', 'train', 'val',
                   '--out-dir', out_dir, '--cfg-options', *RESTORER_OPTIONS]


def test_labels_resume_where_they_stopped(chain, s3_dir, tmp_path):
    out = str(tmp_path / 'labels')
    first = run_tool(_label_args(s3_dir, out) + ['--max-images', '5'])
    assert 'stopped after 5 new images' in first.stdout
    path = osp.join(out, 'utility_labels.jsonl')
    assert len(_records(path)) == 5
    with open(path, 'a') as f:  # a run killed in the middle of a line
        f.write('{"id": "rain_00')
    second = run_tool(_label_args(s3_dir, out))
    assert 'dropping a half-written last line' in second.stdout
    assert 'resuming: 5 images already labelled' in second.stdout
    assert '25 new, 30 images labelled' in second.stdout
    resumed = _records(path)
    reference = _records(osp.join(chain, 'labels', 'utility_labels.jsonl'))
    assert [r['id'] for r in resumed] == [r['id'] for r in reference]
    for a, b in zip(resumed, reference):
        assert a['mse'] == pytest.approx(b['mse'], rel=1e-9)
        assert a['global_vec'] == pytest.approx(b['global_vec'], rel=1e-9)
        assert a['oracle'] == b['oracle']
    with open(osp.join(out, 'utility_labels.json')) as f:
        assert json.load(f)['complete']
    other = run_tool(_label_args(s3_dir, out) + ['--betas', '10'],
                     check=False)
    assert other.returncode == 2
    assert 'other settings (betas differ)' in other.stderr


@pytest.mark.parametrize('name', ROUTERS)
def test_router_config_trains_resumes_and_tests(name, chain, tmp_path):
    config = f'configs/restoration/{name}.py'
    work_dir = str(tmp_path / name)
    labels = osp.join(chain, 'labels') + '/'

    def options(max_epochs: int) -> List[str]:
        opts = [f'train_cfg.max_epochs={max_epochs}',
                'train_cfg.val_interval=1',
                'default_hooks.checkpoint.interval=1',
                'default_hooks.logger.interval=1',
                'train_dataloader.batch_size=4']
        if 'global' in name:
            opts.append('model.router.in_dims=8')
        return opts + [f'{s}_dataloader.dataset.data_root={labels}'
                       for s in ('train', 'val', 'test')]

    run_tool(['tools/train.py', config, '--work-dir', work_dir,
              '--cfg-options', *options(2)])
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    run_tool(['tools/train.py', config, '--work-dir', work_dir, '--resume',
              '--cfg-options', *options(3)])
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    resumed = open(logs[-1]).read()
    assert 'resumed epoch: 2' in resumed
    assert 'Epoch(train) [3]' in resumed and 'Epoch(train) [1]' not in \
        resumed
    run_tool(['tools/test.py', config, osp.join(work_dir, 'epoch_3.pth'),
              '--work-dir', work_dir, '--cfg-options', *options(3)])
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        report = json.load(f)
    assert [h['epoch'] for h in report['history']] == [1, 2, 3]
    assert {'router/accuracy', 'router/ece', 'router/oracle_gap'} <= set(
        report['last_test'])
