"""measure_inference and the ReID breakdown on a one-layer ReID model."""
import pytest

from featsel.analysis.inference import measure_inference
from featsel.analysis.models import ModelSpec, build_model
from featsel.analysis.parts import REID_PARTS
from tests.conftest import REPO_ROOT

CONFIG = f'{REPO_ROOT}/configs/reid/baseline_vit_tiny_demo.py'
TINY = {'model.backbone.num_layers': 1, 'model.backbone.embed_dims': 16,
        'model.backbone.num_heads': 2, 'model.backbone.img_size': (16, 16),
        'model.backbone.patch_size': 8, 'model.embed_dims': 8}


@pytest.mark.parametrize('shared', [True, False])
def test_parts_add_up_and_unshared_backbones_count_each(shared):
    model = build_model(ModelSpec(CONFIG, dict(
        TINY, **{'model.share_backbone': shared})))
    got = measure_inference(dict(m=model), (16, 16), warmup=0, repeats=2)
    m = got['m']
    assert tuple(m['params_by_part']) == REID_PARTS
    assert sum(v for k, v in m['params_by_part'].items()
               if k != 'total') == m['params_by_part']['total'] == \
        m['params']
    one = sum(p.numel() for p in model.backbones[0].parameters())
    copies = 1 if shared else 3
    assert m['params_by_part']['backbone'] == copies * one
    # features before the neck: the heads do not run at inference
    assert m['flops_by_part']['heads'] == 0
    assert m['flops_by_part']['backbone'] + \
        m['flops_by_part']['projection'] == m['flops'] > 0
    assert len(m['latency_ms_all']) == 2
    assert m['part_latency_ms']['backbone'] <= m['part_latency_ms']['total']
    assert m['latency_ms'] > 0


def test_backbone_flops_do_not_depend_on_sharing():
    """Three modalities through one backbone or through one each: the same
    work."""
    flops = {}
    for shared in (True, False):
        model = build_model(ModelSpec(CONFIG, dict(
            TINY, **{'model.share_backbone': shared})))
        flops[shared] = measure_inference(
            dict(m=model), (16, 16), warmup=0, repeats=1)['m']['flops']
    assert flops[True] == flops[False]
