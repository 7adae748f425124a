"""init_model / inference_model on S1 (featsel scope) and S4 (mmdet scope)."""
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from featsel.apis import build_inference_pipeline, inference_model, init_model
from featsel.utils import DataError
from featsel.utils.errors import CheckpointError

S1_CONFIG = 'configs/e6_patchgate.py'
S4_CONFIG = 'configs/dset/rtdetr_r18.py'
# few queries and a 64x64 test resize, as in the detector tests
S4_OPTIONS = {
    'model.num_queries': 20,
    'model.test_cfg.max_per_img': 20,
    'model.dn_cfg.group_cfg.num_dn_queries': 10,
    'test_dataloader.dataset.pipeline.1.scale': (64, 64),
}
# (H, W): not square, so a swapped size would show
IMG_SHAPE = (64, 48)
SYSTEMS = {'s1': (S1_CONFIG, None), 's4': (S4_CONFIG, S4_OPTIONS)}


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    """A seeded (64, 48, 3) BGR uint8 image and the PNG file holding it."""
    img = np.random.RandomState(0).randint(0, 256, IMG_SHAPE + (3, ),
                                           dtype=np.uint8)
    path = str(tmp_path_factory.mktemp('img') / 'img.png')
    assert cv2.imwrite(path, img)
    return img, path


def _save(model, path, meta=None):
    """A checkpoint as mmengine writes it."""
    torch.save(dict(state_dict=model.state_dict(), meta=meta or {}), path)
    return str(path)


def _init(system, checkpoint=None, seed=0):
    config, options = SYSTEMS[system]
    torch.manual_seed(seed)
    return init_model(config, checkpoint, cfg_options=options)


def _same_prediction(a, b):
    """Whether two samples hold the same pred_* fields and values."""
    preds = sorted(k for k in a.keys() if k.startswith('pred_'))
    if preds != sorted(k for k in b.keys() if k.startswith('pred_')):
        return False
    for key in preds:
        fa, fb = a.get(key), b.get(key)
        for name in fa.keys():
            if not torch.equal(fa.get(name), fb.get(name)):
                return False
    return True


@pytest.mark.parametrize('system', ['s1', 's4'])
def test_checkpoint_round_trip(system, tmp_path, image):
    saved = _init(system, seed=0)
    meta = dict(dataset_meta=dict(classes=('a', 'b', 'c', 'd')))
    ckpt = _save(saved, tmp_path / 'model.pth', meta)
    fresh = _init(system, seed=1)
    loaded = _init(system, ckpt, seed=1)
    saved_state, fresh_state = saved.state_dict(), fresh.state_dict()
    # the seeds give other weights, so equality comes from the checkpoint
    assert any(not torch.equal(v, fresh_state[k])
               for k, v in saved_state.items())
    loaded_state = loaded.state_dict()
    assert loaded_state.keys() == saved_state.keys()
    assert all(torch.equal(v, loaded_state[k])
               for k, v in saved_state.items())
    assert loaded.dataset_meta == meta['dataset_meta']
    assert isinstance(loaded.cfg, Config) and not loaded.training
    assert _same_prediction(inference_model(saved, image[0]),
                            inference_model(loaded, image[0]))
    assert not _same_prediction(inference_model(fresh, image[0]),
                                inference_model(loaded, image[0]))


def test_s1_predictions_from_path_and_array(image):
    img, path = image
    model = _init('s1')
    from_path, from_array = inference_model(model, path), inference_model(
        model, img)
    assert _same_prediction(from_path, from_array)
    assert from_path.img_path == path and from_array.img_path is None
    for task, kind in (('seg', 'mask'), ('sdf', 'sdf'), ('bnd', 'boundary')):
        pred = from_path.get(f'pred_{task}')
        assert pred.data.shape == (1, ) + IMG_SHAPE
        assert pred.kind == kind
    assert set(from_path.pred_seg.data.unique().tolist()) <= {0, 1}
    assert from_path.pred_sdf.data.dtype == torch.float32
    # a list gives a list, each as for the image alone
    both = inference_model(model, [path, img])
    assert isinstance(both, list) and len(both) == 2
    assert all(_same_prediction(s, from_path) for s in both)


def test_s4_predictions_from_path_and_array(image):
    img, path = image
    model = _init('s4')
    from_path, from_array = inference_model(model, [path]), inference_model(
        model, [img])
    assert len(from_path) == len(from_array) == 1
    from_path, from_array = from_path[0], from_array[0]
    assert _same_prediction(from_path, from_array)
    pred = from_path.pred_instances
    assert pred.bboxes.shape == (20, 4)
    assert pred.scores.shape == pred.labels.shape == (20, )
    assert ((pred.labels >= 0) & (pred.labels < 4)).all()
    # boxes are in the original image's pixels: resized to 64x64 and back
    assert from_path.ori_shape == IMG_SHAPE
    assert from_path.scale_factor == (64 / IMG_SHAPE[1], 64 / IMG_SHAPE[0])


def test_inference_pipeline_drops_ground_truth():
    s1 = Config.fromfile(S1_CONFIG)
    names = [type(t).__name__ for t in build_inference_pipeline(
        s1, from_array=False).transforms]
    assert names == ['CheckedLoadImageFromFile', 'PackSegInputs']
    names = [type(t).__name__ for t in build_inference_pipeline(
        s1, from_array=True).transforms]
    assert names == ['LoadImageFromNDArray', 'PackSegInputs']
    s4 = Config.fromfile(S4_CONFIG)
    names = [type(t).__name__ for t in build_inference_pipeline(
        s4, from_array=True).transforms]
    assert names == ['LoadImageFromNDArray', 'Resize', 'PackDetInputs']


def test_bad_images_name_the_input(tmp_path):
    model = _init('s1')
    missing = str(tmp_path / 'nope.png')
    with pytest.raises(DataError, match='nope.png'):
        inference_model(model, [missing])
    with pytest.raises(DataError, match=r'shape \(64, 48\)'):
        inference_model(model, np.zeros((64, 48), np.uint8))
    with pytest.raises(DataError, match='float32'):
        inference_model(model, np.zeros((64, 48, 3), np.float32))


def test_bad_checkpoints_name_the_file(tmp_path):
    model = _init('s1')
    state = model.state_dict()
    state.pop(next(iter(state)))
    short = tmp_path / 'short.pth'
    torch.save(dict(state_dict=state, meta={}), short)
    with pytest.raises(CheckpointError, match='short.pth.*missing 1'):
        init_model(S1_CONFIG, str(short))
    # an object only full unpickling can load is refused, not run
    pickled = tmp_path / 'pickled.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=Config()), pickled)
    with pytest.raises(CheckpointError, match='pickled.pth.*full unpickling'):
        init_model(S1_CONFIG, str(pickled))


def test_import_featsel_leaves_apis_out():
    code = ('import sys, featsel; '
            'assert "featsel.apis" not in sys.modules, "apis imported"')
    subprocess.run([sys.executable, '-c', code], check=True)
