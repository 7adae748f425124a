"""ReIDVisualizationHook: token maps and retrieval panels from predicted
ReID samples and the metric's rankings, alone and inside a test run."""
import json
import os.path as osp
from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch
from mmdet.structures import ReIDDataSample
from mmengine.evaluator import Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner

from featsel.engine.hooks import ReIDVisualizationHook
from featsel.evaluation.metrics import MultiModalReIDMetric
from featsel.registry import HOOKS
from featsel.visualization.reid import MATCH_COLOUR, MISMATCH_COLOUR
from tests.test_engine.test_hooks.test_token_pruning_hook import ListLogger

MODALITIES = ('RGB', 'NI')
H, W, GRID = 32, 16, (4, 2)
# pid, camera, feature. Query 0 (pid 1, cam 0) ranks sample 2 (pid 2,
# cos 0.8) before its positive 1 (cos 0.6), then 3, 4, 5 (cos 0, in order)
SAMPLES = [(1, 0, [1., 0., 0.]), (1, 1, [0.6, 0.8, 0.]),
           (2, 0, [0.8, 0.6, 0.]), (2, 1, [0., 1., 0.]),
           (3, 0, [0., 0., 1.]), (3, 1, [0., 0., 1.])]


def _write_images(root):
    """One small PNG per sample and modality; paths by sample."""
    paths = []
    for index, (pid, cam, _) in enumerate(SAMPLES):
        name = f'{pid:04d}_cam{cam}_{index}.png'
        sample_paths = {}
        for m, modality in enumerate(MODALITIES):
            path = osp.join(str(root), modality, name)
            mmcv.imwrite(np.full((H, W, 3), 40 * (index + m), np.uint8),
                         path)
            sample_paths[modality] = path
        paths.append(sample_paths)
    return paths


def _selection():
    return {m: dict(kept_index=torch.tensor([7, 2, 5, 0]),
                    scores=torch.linspace(0, 1, 8),
                    aggr_weights=torch.softmax(torch.randn(2, 4), 1))
            for m in MODALITIES}


def _predicted(index, paths, with_selection=True):
    pid, cam, feature = SAMPLES[index]
    sample = ReIDDataSample(metainfo=dict(
        pid=pid, camid=cam, is_query=True, is_gallery=True,
        img_path=paths[index]['RGB'], img_paths=paths[index],
        modalities=MODALITIES))
    sample.pred_feature = torch.tensor(feature)
    if with_selection:
        sample.token_selection = _selection()
        sample.token_grid = GRID
    return sample


def _fake_runner(work_dir, evaluator):
    return SimpleNamespace(work_dir=str(work_dir), iter=5, timestamp='t0',
                           logger=ListLogger(), val_evaluator=evaluator,
                           test_evaluator=evaluator)


def _frame_colours(path, num):
    """Top-left frame pixel of the query and the ``num`` gallery columns
    of a retrieval panel drawn at panel height ``H``."""
    drawn = mmcv.imread(path, channel_order='rgb')
    gap = max(4, W // 8)
    starts = [0] + [W + gap + j * W for j in range(num)]
    return [tuple(int(c) for c in drawn[0, x]) for x in starts]


def test_registered_and_checks_its_arguments():
    assert HOOKS.get('ReIDVisualizationHook') is ReIDVisualizationHook
    with pytest.raises(ValueError, match='num_samples'):
        ReIDVisualizationHook(num_samples=-1)
    with pytest.raises(ValueError, match='panel_height'):
        ReIDVisualizationHook(panel_height=8)


def test_validation_writes_token_maps_and_retrieval_panels(tmp_path):
    torch.manual_seed(0)
    paths = _write_images(tmp_path / 'data')
    # sample 0 carries no selection: it is skipped for token maps only
    outputs = [_predicted(i, paths, with_selection=i != 0)
               for i in range(len(SAMPLES))]
    metric = MultiModalReIDMetric(retrieval_queries=3)
    evaluator = Evaluator([metric])
    runner = _fake_runner(tmp_path / 'work', evaluator)
    hook = ReIDVisualizationHook(num_samples=2, num_queries=2,
                                 num_aggregated=3, panel_height=H)
    hook.before_val_epoch(runner)
    for start in (0, 3):
        batch = outputs[start:start + 3]
        hook.after_val_iter(runner, start // 3, {}, batch)
        evaluator.process(batch)
    metrics = evaluator.evaluate(len(outputs))
    hook.after_val_epoch(runner, metrics)

    out_dir = tmp_path / 'work' / 'vis' / 'val_iter_5'
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == ['0001_cam1_1_tokens.png', '0002_cam0_2_tokens.png',
                       'retrieval_0_0001_cam0_0.png',
                       'retrieval_1_0001_cam1_1.png']
    tokens = mmcv.imread(str(out_dir / '0001_cam1_1_tokens.png'))
    # two modalities; image, kept tokens and N_c = 2 aggregated tokens
    assert tokens.shape == (2 * H, 4 * W, 3)
    # query 0's ranking: 2 (other pid), 1 (its pid), 3, 4, 5 (other pids)
    ranking = metric.last_retrieval[0]
    assert [g['index'] for g in ranking['gallery']] == [2, 1, 3, 4, 5]
    colours = _frame_colours(str(out_dir / 'retrieval_0_0001_cam0_0.png'),
                             5)
    assert colours[1:] == [MISMATCH_COLOUR, MATCH_COLOUR] + \
        [MISMATCH_COLOUR] * 3
    assert len(runner.logger.infos) == 1 and '4 pictures' in \
        runner.logger.infos[0]

    # the next evaluation starts afresh
    runner.iter = 10
    hook.before_val_epoch(runner)
    hook.after_val_epoch(runner, metrics)
    assert len(list((tmp_path / 'work' / 'vis' / 'val_iter_10').iterdir())
               ) == 2  # retrieval panels only: no sample seen


def test_without_retrieval_metric_draws_token_maps_only(tmp_path):
    paths = _write_images(tmp_path / 'data')
    runner = _fake_runner(tmp_path / 'work', Evaluator([]))
    hook = ReIDVisualizationHook(num_samples=1, panel_height=H,
                                 out_dir='pictures')
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0, {},
                         [_predicted(i, paths) for i in range(3)])
    hook.after_test_epoch(runner, {})
    out_dir = tmp_path / 'work' / 'pictures' / 'test_t0'
    assert [p.name for p in out_dir.iterdir()] == ['0001_cam0_0_tokens.png']
    assert len(runner.logger.warnings) == 1
    assert 'last_retrieval' in runner.logger.warnings[0]


def test_show_dir_draws_every_test_sample_and_draw_false_nothing(tmp_path):
    """``tools/test.py --show-dir DIR`` sets ``draw=True, show_dir=DIR``."""
    paths = _write_images(tmp_path / 'data')
    outputs = [_predicted(i, paths) for i in range(len(SAMPLES))]
    metric = MultiModalReIDMetric(retrieval_queries=1)
    evaluator = Evaluator([metric])
    runner = _fake_runner(tmp_path / 'work', evaluator)
    hook = HOOKS.build(dict(type='ReIDVisualizationHook', draw=True,
                            show_dir='shown', num_samples=1,
                            panel_height=H))
    off = ReIDVisualizationHook(draw=False)
    for h in (hook, off):
        h.before_test_epoch(runner)
    for start in (0, 3):
        for h in (hook, off):
            h.after_test_iter(runner, start // 3, {},
                              outputs[start:start + 3])
        evaluator.process(outputs[start:start + 3])
    evaluator.evaluate(len(outputs))
    for h in (hook, off):
        h.after_test_epoch(runner, {})
    shown = tmp_path / 'work' / 't0' / 'shown'
    names = sorted(p.name for p in shown.iterdir())
    assert len(names) == len(SAMPLES) + 1
    assert names[-1] == 'retrieval_0_0001_cam0_0.png'
    assert not (tmp_path / 'work' / 'vis').exists()


# ---------------------------------------------------------------------- #
# Inside a test run, with the metric and the evaluation report
# ---------------------------------------------------------------------- #
class FeatureEchoReID(BaseModel):
    """Predicts each input vector as the feature, with a fixed selection."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        for feature, sample in zip(inputs, data_samples):
            sample.pred_feature = feature * self.scale.detach()
            sample.token_selection = _selection()
            sample.token_grid = GRID
        return data_samples


def test_in_a_test_run(tmp_path):
    torch.manual_seed(0)
    paths = _write_images(tmp_path / 'data')
    data = []
    for index, (pid, cam, feature) in enumerate(SAMPLES):
        sample = ReIDDataSample(metainfo=dict(
            pid=pid, camid=cam, is_query=True, is_gallery=True,
            img_path=paths[index]['RGB'], img_paths=paths[index]))
        data.append(dict(inputs=torch.tensor(feature), data_samples=sample))
    work_dir = str(tmp_path / 'work')
    runner = Runner(
        model=FeatureEchoReID(),
        work_dir=work_dir,
        test_dataloader=dict(
            dataset=data, batch_size=4, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate')),
        test_cfg=dict(),
        test_evaluator=dict(type='MultiModalReIDMetric', ranks=(1, 2)),
        custom_hooks=[
            dict(type='ReIDVisualizationHook', num_samples=2, num_queries=1,
                 panel_height=H),
            dict(type='EvalReportHook')
        ],
        default_scope='featsel',
        experiment_name=f'reid_vis_{osp.basename(str(tmp_path))}')
    metrics = runner.test()
    # hand count with the cosines of SAMPLES (positives marked +):
    # 0: 2 (.8), 1+ (.6), ...           -> first hit 2, AP 1/2
    # 1: 2 (.96), 3 (.8), 0+ (.6), ...  -> first hit 3, AP 1/3
    # 2: 1 (.96), 0 (.8), 3+ (.6), ...  -> first hit 3, AP 1/3
    # 3: 1 (.8), 2+ (.6), ...           -> first hit 2, AP 1/2
    # 4: 5+ (1), ... and 5: 4+ (1), ... -> first hit 1, AP 1
    expected_ap = (1 / 2 + 1 / 3 + 1 / 3 + 1 / 2 + 1 + 1) / 6
    assert metrics['mAP'] == pytest.approx(100 * expected_ap)
    assert metrics['R1'] == pytest.approx(100 * 2 / 6)
    with open(osp.join(work_dir, 'eval_results.json')) as f:
        report = json.load(f)
    assert report['last_test']['mAP'] == pytest.approx(metrics['mAP'])
    out_dir = osp.join(work_dir, 'vis', f'test_{runner.timestamp}')
    assert sorted(p.name for p in (tmp_path / out_dir).iterdir()) == [
        '0001_cam0_0_tokens.png', '0001_cam1_1_tokens.png',
        'retrieval_0_0001_cam0_0.png']
