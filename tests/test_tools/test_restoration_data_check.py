import importlib.util
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from featsel.datasets.restoration import (make_demo_restoration, read_meta,
                                          write_meta)
from featsel.utils import DataError
from tests.conftest import REPO_ROOT
from tests.tool_runner import run_tool

TOOL = 'tools/misc/restoration_data_check.py'


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'restoration_data_check', osp.join(REPO_ROOT, TOOL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def flawed(tmp_path_factory):
    """A tiny demo set with one leak and one shifted pair added:

    * a test pair whose clean image is a resized JPEG copy of a train
      scene's clean image (another scene id, so no scene leak);
    * a train pair whose degraded image is moved 2 px to the right.
    """
    root = tmp_path_factory.mktemp('check') / 'set'
    make_demo_restoration(str(root), num_scenes=4, variants=1, size=64,
                          large_size=None)
    meta = str(root / 'meta.jsonl')
    records = read_meta(meta)
    train = next(r for r in records if r['split'] == 'train')
    gt = cv2.imread(str(root / train['path_gt']))
    copy = cv2.resize(cv2.resize(gt, (90, 90)), (64, 64))
    ok, buf = cv2.imencode('.jpg', copy, [cv2.IMWRITE_JPEG_QUALITY, 70])
    cv2.imwrite(str(root / 'gt' / 'copy.png'), cv2.imdecode(buf, 1))
    leak = dict(train, id='leak', scene_id='scene_copy', split='test',
                path_gt='gt/copy.png', hash=None)
    shifted = next(r for r in records
                   if r['split'] == 'train' and r['degradation'] == 'rain')
    lq = cv2.imread(str(root / shifted['path_raw']))
    cv2.imwrite(str(root / 'lq' / 'moved.png'), np.roll(lq, 2, axis=1))
    moved = dict(shifted, id='moved', path_raw='lq/moved.png')
    write_meta(meta, records + [leak, moved])
    return root, train


def test_report_flags_the_leak_and_the_shift(flawed, tmp_path):
    root, train = flawed
    out, dedup = tmp_path / 'report.json', tmp_path / 'dedup' / 'meta.jsonl'
    proc = run_tool([TOOL, str(root / 'meta.jsonl'), '--out', str(out),
                     '--write-deduped', str(dedup)])
    assert 'across splits: 1' in proc.stdout
    report = json.loads(out.read_text())
    dup = report['duplicates']
    assert len(dup['pairs']) == 1 and dup['cross_split'] == 1
    pair = dup['pairs'][0]
    assert pair['distance'] <= 3 and 'leak' in pair['ids_a'] + pair['ids_b']
    # the train side goes, the test pair stays
    same_gt = [r['id'] for r in read_meta(str(root / 'meta.jsonl'))
               if r['path_gt'] == train['path_gt']]
    assert dup['drop'] == sorted(same_gt)
    flagged = report['alignment']['flagged']
    assert [f['id'] for f in flagged] == ['moved']
    assert flagged[0]['dx'] == pytest.approx(2, abs=0.15)
    assert report['scene_leaks'] == {}
    assert set(report['severity']) == {'haze', 'rain', 'snow'}
    assert len(report['pairs']) == report['num_pairs'] == 14
    kept = read_meta(str(dedup))
    assert {r['id'] for r in kept} == \
        {p['id'] for p in report['pairs']} - set(dup['drop'])
    for r in kept:
        assert osp.isfile(osp.join(str(dedup.parent), r['path_raw']))


def test_bad_meta_line_and_missing_image(tmp_path):
    tool = _load_tool()
    meta = tmp_path / 'meta.jsonl'
    meta.write_text('{"id": "a"}\n')
    with pytest.raises(DataError, match='line 1: missing required field '
                       '"dataset"'):
        tool.main([str(meta)])
    write_meta(str(meta), [dict(id='a', dataset='d', scene_id='s',
                                split='train', path_raw='lq.png',
                                path_gt='gt.png', degradation='haze')])
    with pytest.raises(DataError, match=r'line 1: path_raw ".*lq.png" does '
                       'not exist'):
        tool.main([str(meta)])
    assert not (tmp_path / 'meta_check.json').exists()
