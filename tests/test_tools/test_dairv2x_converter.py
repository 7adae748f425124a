import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from featsel.utils import ConfigError, DataError
from tests.conftest import REPO_ROOT
from tests.tool_runner import run_tool

TOOL = 'tools/dataset_converters/dairv2x_to_coco.py'


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'dairv2x_to_coco', osp.join(REPO_ROOT, TOOL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conv = _load_tool()


def _box(x0, y0, x1, y1):
    return {'xmin': x0, 'ymin': y0, 'xmax': x1, 'ymax': y1}


def _obj(kind, box):
    # 3-D fields as in the real labels; the converter ignores them
    return {'type': kind, 'occluded_state': 0, 'truncated_state': 0,
            'alpha': 0.0, '2d_box': box,
            '3d_dimensions': {'h': 1.5, 'w': 1.8, 'l': 4.2},
            '3d_location': {'x': 10.0, 'y': 1.0, 'z': -1.0},
            'rotation': 0.1}


# side -> [(frame, (width, height), objects)]
FRAMES = {
    'vehicle-side': [
        ('000000', (64, 48), [
            _obj('Car', _box(10, 5, 30, 20)),
            _obj('Pedestrian', _box('40.5', '10', '50', '40')),
            _obj('Animal', _box(1, 1, 9, 9)),
        ]),
        ('000001', (64, 48), [
            _obj('Truck', _box(-5, 10, 70, 30)),      # clipped to 0..64
            _obj('Car', _box(10, 10, 10.5, 30)),      # 0.5 px wide
        ]),
        ('000002', (64, 48), []),
    ],
    'infrastructure-side': [
        ('000010', (80, 60), [
            _obj('Trafficcone', _box(5, 5, 15, 25)),  # case differs
            _obj('Bus', _box(20, 20, 79, 59)),
        ]),
        ('000011', (80, 60), [
            _obj('Cyclist', _box(0, 0, 10, 10)),
            _obj('Car', _box(100, 100, 120, 120)),    # outside the image
        ]),
    ],
}


def _make_tree(root):
    for side, frames in FRAMES.items():
        side_root = osp.join(root, side)
        os.makedirs(osp.join(side_root, 'image'))
        os.makedirs(osp.join(side_root, 'label', 'camera'))
        info = []
        for frame, (w, h), objects in frames:
            cv2.imwrite(osp.join(side_root, 'image', f'{frame}.jpg'),
                        np.full((h, w, 3), 128, np.uint8))
            with open(osp.join(side_root, 'label', 'camera',
                               f'{frame}.json'), 'w') as f:
                json.dump(objects, f)
            info.append({
                'image_path': f'image/{frame}.jpg',
                'image_timestamp': '1626155123.3',
                'pointcloud_path': f'velodyne/{frame}.pcd',
                'label_camera_std_path': f'label/camera/{frame}.json',
                'label_lidar_std_path': f'label/lidar/{frame}.json',
            })
        with open(osp.join(side_root, 'data_info.json'), 'w') as f:
            json.dump(info, f)
    return root


@pytest.fixture
def dair_root(tmp_path):
    return _make_tree(str(tmp_path / 'cooperative-vehicle-infrastructure'))


def test_all_frames_in_train(dair_root):
    out = conv.convert_dairv2x(dair_root, val_ratio=0)
    train, val = out['train'], out['val']
    assert [c['id'] for c in train['categories']] == list(range(1, 11))
    assert [c['name'] for c in train['categories']] == list(
        conv.DEFAULT_CLASSES)
    assert val['images'] == [] and val['annotations'] == []
    assert train['images'] == [
        dict(id=1, file_name='vehicle-side/image/000000.jpg', width=64,
             height=48),
        dict(id=2, file_name='vehicle-side/image/000001.jpg', width=64,
             height=48),
        dict(id=3, file_name='vehicle-side/image/000002.jpg', width=64,
             height=48),
        dict(id=4, file_name='infrastructure-side/image/000010.jpg',
             width=80, height=60),
        dict(id=5, file_name='infrastructure-side/image/000011.jpg',
             width=80, height=60),
    ]
    expected = [
        # (image id, category id, bbox)
        (1, 1, [10, 5, 20, 15]),         # Car
        (1, 5, [40.5, 10, 9.5, 30]),     # Pedestrian, string coordinates
        (2, 2, [0, 10, 64, 20]),         # Truck, clipped
        (4, 10, [5, 5, 10, 20]),         # Trafficcone -> TrafficCone
        (4, 4, [20, 20, 59, 39]),        # Bus
        (5, 6, [0, 0, 10, 10]),          # Cyclist
    ]
    assert train['annotations'] == [
        dict(id=i + 1, image_id=img_id, category_id=cat_id, bbox=bbox,
             area=bbox[2] * bbox[3], iscrowd=0)
        for i, (img_id, cat_id, bbox) in enumerate(expected)]
    report = out['report']
    assert report['images'] == dict(train=5, val=0)
    assert report['boxes'] == dict(
        Car=1, Truck=1, Van=0, Bus=1, Pedestrian=1, Cyclist=1, Tricyclist=0,
        Motorcyclist=0, Barrowlist=0, TrafficCone=1)
    assert report['skipped_types'] == {'Animal': 1}
    assert report['degenerate'] == 2 and report['clipped'] == 1
    text = conv.format_report(report)
    assert 'Animal 1' in text and 'images: 5 train, 0 val, 0 left out' in text


def test_split_is_by_sequence_and_deterministic(dair_root):
    first = conv.convert_dairv2x(dair_root, val_ratio=0.5, seed=0)
    again = conv.convert_dairv2x(dair_root, val_ratio=0.5, seed=0)
    assert first == again
    # every frame of a side has the same timestamp: one sequence per side,
    # and a whole side goes to validation
    names = {split: {img['file_name'] for img in first[split]['images']}
             for split in ('train', 'val')}
    assert not names['train'] & names['val']
    assert len(names['train'] | names['val']) == 5
    sides = {split: {n.split('/')[0] for n in names[split]}
             for split in ('train', 'val')}
    assert len(sides['val']) == 1 and not sides['train'] & sides['val']
    for split in ('train', 'val'):
        ids = {img['id'] for img in first[split]['images']}
        assert all(a['image_id'] in ids
                   for a in first[split]['annotations'])
    # ids stay unique over both files
    all_ids = [img['id'] for s in ('train', 'val')
               for img in first[s]['images']]
    assert sorted(all_ids) == [1, 2, 3, 4, 5]
    splits = [{img['file_name'] for img in conv.convert_dairv2x(
        dair_root, val_ratio=0.5, seed=seed)['val']['images']}
        for seed in range(6)]
    assert len({frozenset(s) for s in splits}) > 1


def _sequence_tree(root):
    """Two sides x 12 frames: vehicle frames in 3 batches, infrastructure
    frames without batch_id at 2 s steps, each vehicle frame paired with
    one infrastructure frame of the same moment."""
    pairs = []
    for side in ('vehicle-side', 'infrastructure-side'):
        side_root = osp.join(root, side)
        os.makedirs(osp.join(side_root, 'image'))
        os.makedirs(osp.join(side_root, 'label', 'camera'))
        info = []
        for i in range(12):
            frame = f'{i:06d}' if side == 'vehicle-side' else f'{100 + i:06d}'
            with open(osp.join(side_root, 'label', 'camera',
                               f'{frame}.json'), 'w') as f:
                json.dump([_obj('Car', _box(1, 1, 9, 9))], f)
            entry = {'image_path': f'image/{frame}.jpg', 'width': 32,
                     'height': 24, 'image_timestamp': str(1000.0 + 2 * i),
                     'label_camera_std_path': f'label/camera/{frame}.json'}
            if side == 'vehicle-side':
                entry['batch_id'] = str(i // 4)
            info.append(entry)
        with open(osp.join(side_root, 'data_info.json'), 'w') as f:
            json.dump(info, f)
    # vehicle frame i was recorded with infrastructure frame 100 + i
    os.makedirs(osp.join(root, 'cooperative'))
    for i in range(12):
        pairs.append({'vehicle_image_path': f'vehicle-side/image/{i:06d}.jpg',
                      'infrastructure_image_path':
                      f'infrastructure-side/image/{100 + i:06d}.jpg'})
    with open(osp.join(root, 'cooperative', 'data_info.json'), 'w') as f:
        json.dump(pairs, f)
    return root


def _frames(out, split):
    return {osp.splitext(osp.basename(img['file_name']))[0]
            for img in out[split]['images']}


def test_sequences_and_cooperative_pairs_stay_together(tmp_path):
    root = _sequence_tree(str(tmp_path / 'coop'))
    for seed in range(4):
        out = conv.convert_dairv2x(root, val_ratio=0.3, seed=seed,
                                   window_s=8)
        train, val = _frames(out, 'train'), _frames(out, 'val')
        assert len(train | val) == 24 and not train & val
        assert val  # whole groups still reach the target share
        for i in range(12):
            # both views of one moment on the same side of the split
            assert (f'{i:06d}' in val) == (f'{100 + i:06d}' in val)
        for batch in range(3):
            # a recorded sequence is never cut
            inside = {f'{i:06d}' in val for i in range(4 * batch,
                                                       4 * batch + 4)}
            assert len(inside) == 1
    # without pairs and batch ids, windows of 8 s hold 4 frames each
    groups = conv.group_split(
        {'infrastructure-side': json.load(open(osp.join(
            root, 'infrastructure-side', 'data_info.json')))},
        [], 0.25, 0, 8.0, {'infrastructure-side': 'info'})
    val = sorted(f for (_, f), s in groups.items() if s == 'val')
    assert len(val) == 4
    first = int(val[0]) - 100
    assert first % 4 == 0 and val == [f'{100 + first + k:06d}'
                                      for k in range(4)]


def test_official_split_file(tmp_path):
    root = _sequence_tree(str(tmp_path / 'coop'))
    split = {
        'batch_split': {'train': ['0'], 'val': ['1'], 'test': ['2']},
        'vehicle_split': {'train': ['000000', '000001'], 'val': ['000004'],
                          'test': ['000008']},
        'infrastructure_split': {'train': ['000100'], 'val': ['000104',
                                                              '000105']},
        'cooperative_split': {'train': ['000000'], 'val': ['000004']},
    }
    path = str(tmp_path / 'cooperative-split-data.json')
    with open(path, 'w') as f:
        json.dump(split, f)
    out = conv.convert_dairv2x(root, split_file=path)
    assert _frames(out, 'train') == {'000000', '000001', '000100'}
    assert _frames(out, 'val') == {'000004', '000104', '000105'}
    assert out['report']['left_out'] == 24 - 6
    # a side without its own list follows the cooperative split and pairs
    del split['infrastructure_split']
    with open(path, 'w') as f:
        json.dump(split, f)
    out = conv.convert_dairv2x(root, split_file=path)
    assert _frames(out, 'train') == {'000000', '000001', '000100'}
    assert _frames(out, 'val') == {'000004', '000104'}
    del split['cooperative_split']
    with open(path, 'w') as f:
        json.dump(split, f)
    with pytest.raises(DataError, match='infrastructure_split'):
        conv.convert_dairv2x(root, split_file=path)
    with pytest.raises(DataError, match='nowhere.json does not exist'):
        conv.convert_dairv2x(root, split_file=str(tmp_path / 'nowhere.json'))


def test_class_subset_merge_and_one_side(dair_root):
    out = conv.convert_dairv2x(
        dair_root, sides=['vehicle-side'], classes=['Car', 'Pedestrian'],
        merge={'Truck': 'Car'}, val_ratio=0)
    assert out['train']['categories'] == [dict(id=1, name='Car'),
                                          dict(id=2, name='Pedestrian')]
    assert [a['category_id'] for a in out['train']['annotations']] == [
        1, 2, 1]
    assert out['report']['skipped_types'] == {'Animal': 1}
    with pytest.raises(ConfigError, match='Bike'):
        conv.convert_dairv2x(dair_root, classes=['Car'],
                             merge={'Van': 'Bike'})
    with pytest.raises(ConfigError, match='val-ratio'):
        conv.convert_dairv2x(dair_root, val_ratio=1.0)


def test_bad_input_names_the_file(dair_root, tmp_path):
    with pytest.raises(DataError, match='nowhere'):
        conv.convert_dairv2x(str(tmp_path / 'nowhere'))
    with pytest.raises(DataError, match='no-such-side'):
        conv.convert_dairv2x(dair_root, sides=['no-such-side'])
    label = osp.join(dair_root, 'vehicle-side', 'label', 'camera',
                     '000001.json')
    with open(label, 'w') as f:
        f.write('[{"type": "Car", ')
    with pytest.raises(DataError, match='000001.json is not valid JSON'):
        conv.convert_dairv2x(dair_root)
    with open(label, 'w') as f:
        json.dump([_obj('Car', _box('ten', 0, 5, 5))], f)
    with pytest.raises(DataError, match='000001.json, object 0'):
        conv.convert_dairv2x(dair_root)
    with open(label, 'w') as f:
        json.dump([], f)
    os.remove(osp.join(dair_root, 'vehicle-side', 'image', '000002.jpg'))
    with pytest.raises(DataError, match='000002.jpg does not exist'):
        conv.convert_dairv2x(dair_root, sides=['vehicle-side'])


def test_cli_writes_both_files(dair_root, tmp_path):
    out_dir = str(tmp_path / 'coco')
    proc = run_tool([TOOL, dair_root, '--out-dir', out_dir,
                     '--val-ratio', '0.5', '--seed', '3'])
    expected = conv.convert_dairv2x(dair_root, val_ratio=0.5, seed=3)
    for split in ('train', 'val'):
        with open(osp.join(out_dir, f'instances_{split}.json')) as f:
            assert json.load(f) == expected[split]
    assert 'skipped (type not in the class list): Animal 1' in proc.stdout
    assert sorted(os.listdir(out_dir)) == ['instances_train.json',
                                           'instances_val.json']


def test_cli_missing_data_info_is_one_error_line(dair_root, tmp_path):
    info = osp.join(dair_root, 'infrastructure-side', 'data_info.json')
    os.remove(info)
    proc = run_tool([TOOL, dair_root, '--out-dir', str(tmp_path / 'o')],
                    check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith('error')]
    assert len(lines) == 1 and 'Traceback' not in proc.stderr
    assert info in lines[0]
    assert not osp.exists(tmp_path / 'o')
