"""RouterLabelsDataset: soft labels against their formula, expert order,
split and held-out scenes, the image of a local router, and errors that
name the file and line."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from featsel.datasets import RouterLabelsDataset
from featsel.datasets.router_labels import holdout_scenes, read_labels
from featsel.utils import ConfigError, DataError

EXPERTS = ['dehaze', 'derain', 'desnow']
TASKS = dict(haze='dehaze', rain='derain', snow='desnow')


def _record(scene: int, degradation: str, split: str, rng, image: str):
    mse = rng.uniform(0.001, 0.02, size=3)
    psnr = 10 * np.log10(1 / mse)
    oracle = int(mse.argmin())
    return dict(id=f'{degradation}_{scene}', split=split,
                task=TASKS[degradation], degradation=degradation,
                scene_id=f'scene_{scene}', severity=0.5, lq_path=image,
                gt_path=image, experts=EXPERTS, mse=mse.tolist(),
                psnr=psnr.tolist(), dense_mse=float(mse.mean()),
                dense_psnr=float(psnr.mean()), oracle=oracle,
                oracle_expert=EXPERTS[oracle], soft_labels={},
                global_vec=rng.normal(size=4).tolist())


@pytest.fixture
def labels(tmp_path) -> str:
    """8 train scenes and 2 val scenes, three degradations each."""
    rng = np.random.default_rng(0)
    image = str(tmp_path / 'lq.png')
    cv2.imwrite(image, rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    path = tmp_path / 'utility_labels.jsonl'
    with open(path, 'w') as f:
        for scene in range(10):
            for degradation in TASKS:
                split = 'train' if scene < 8 else 'val'
                f.write(json.dumps(_record(scene, degradation, split, rng,
                                           image)) + '\n')
    return str(path)


def test_soft_labels_follow_the_formula(labels):
    dataset = RouterLabelsDataset(ann_file=labels, beta=50.)
    records = read_labels(labels)
    assert len(dataset) == len(records) == 30
    for i, record in enumerate(records):
        item = dataset[i]
        q = np.exp(-50. * np.array(record['mse']))
        np.testing.assert_allclose(item['data_samples'].soft_label.numpy(),
                                   q / q.sum(), rtol=1e-6)
        assert item['data_samples'].oracle == record['oracle']
        assert item['inputs']['global_vec'].dtype == torch.float32
        np.testing.assert_allclose(item['inputs']['global_vec'].numpy(),
                                   record['global_vec'], rtol=1e-6)
        assert item['data_samples'].task == record['task']
    assert dataset.metainfo['experts'] == tuple(EXPERTS)


def test_columns_follow_the_expert_order(labels):
    order = ['desnow', 'dehaze', 'derain']
    dataset = RouterLabelsDataset(ann_file=labels, experts=order, beta=20.)
    record = read_labels(labels)[0]
    sample = dataset[0]['data_samples']
    columns = [EXPERTS.index(e) for e in order]
    np.testing.assert_allclose(sample.psnr.numpy(),
                               np.array(record['psnr'])[columns])
    assert order[sample.oracle] == record['oracle_expert']


def test_held_out_scenes_are_disjoint_from_the_fit_scenes(labels):
    def scenes(subset):
        data = RouterLabelsDataset(ann_file=labels, split='train',
                                   subset=subset, holdout_fraction=0.25)
        return {data.get_data_info(i)['scene_id']
                for i in range(len(data))}, len(data)

    fit, n_fit = scenes('fit')
    held, n_held = scenes('holdout')
    assert len(held) == 2 and len(fit) == 6  # round(0.25 * 8) scenes
    assert not fit & held
    assert n_fit + n_held == 24
    assert held == holdout_scenes([f'scene_{s}' for s in range(8)], 0.25, 0)
    val = RouterLabelsDataset(ann_file=labels, split='val')
    assert len(val) == 6


def test_a_local_router_gets_the_image(labels, tmp_path):
    dataset = RouterLabelsDataset(ann_file=labels, with_image=True)
    image = dataset[0]['inputs']['image']
    expected = cv2.imread(str(tmp_path / 'lq.png'))[..., ::-1]
    assert image.dtype == torch.uint8 and image.shape == (3, 12, 10)
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), expected)


def test_bad_files_and_arguments_are_named(labels, tmp_path):
    bad = tmp_path / 'bad.jsonl'
    lines = open(labels).read().splitlines()
    record = json.loads(lines[1])
    del record['global_vec']
    bad.write_text(lines[0] + '\n' + json.dumps(record) + '\n')
    with pytest.raises(DataError, match=r'bad.jsonl, line 2: missing '
                       r"fields \['global_vec'\]"):
        RouterLabelsDataset(ann_file=str(bad))
    record = json.loads(lines[1])
    record['mse'] = record['mse'][:2]
    bad.write_text(json.dumps(record) + '\n')
    with pytest.raises(DataError, match='line 1: "mse" has 2 values'):
        RouterLabelsDataset(ann_file=str(bad))
    bad.write_text(lines[0] + '\n' + lines[0] + '\n')
    with pytest.raises(DataError, match='appears twice'):
        RouterLabelsDataset(ann_file=str(bad))
    with pytest.raises(DataError, match=r"no labels of experts \['dedust'\]"):
        RouterLabelsDataset(ann_file=labels, experts=['dehaze', 'dedust'])
    with pytest.raises(DataError, match='no image of split'):
        RouterLabelsDataset(ann_file=labels, split='test')
    with pytest.raises(DataError, match='does not exist'):
        RouterLabelsDataset(ann_file=osp.join(str(tmp_path), 'none.jsonl'))
    with pytest.raises(ConfigError, match='takes no pipeline'):
        RouterLabelsDataset(ann_file=labels, pipeline=[])
    with pytest.raises(ConfigError, match='subset must be one of'):
        RouterLabelsDataset(ann_file=labels, subset='rest')
    with pytest.raises(ConfigError, match='beta must be > 0'):
        RouterLabelsDataset(ann_file=labels, beta=0)
