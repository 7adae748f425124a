"""Cost breakdowns per system."""
from torch import nn

from featsel.analysis.flops import inference_flops
from featsel.analysis.inputs import synthetic_batch
from featsel.analysis.models import ModelSpec, build_model
from featsel.analysis.parts import RTDETR_PARTS, breakdown
from tests.conftest import REPO_ROOT


def test_rtdetr_parts_add_up_to_the_total():
    model = build_model(ModelSpec(f'{REPO_ROOT}/configs/dset/dset_r18.py'))
    parts = breakdown(model)
    flops = inference_flops(model, synthetic_batch(model, 1, (128, 128)),
                            parts.modules)
    got = parts.combine(flops.by_module)
    assert tuple(got) == RTDETR_PARTS
    main = ('backbone', 'encoder transformer', 'fusion', 'decoder',
            'selection + head')
    assert sum(got[p] for p in main) == got['total'] == flops.total
    assert all(got[p] > 0 for p in main + ('encoder MoE', 'decoder MoE'))
    assert got['decoder MoE'] < got['decoder']


def test_other_models_break_down_into_children():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    parts = breakdown(model)
    assert parts.modules == ['0', '1']
    assert parts.combine({'0': 12, '1': 6, '': 18}) == {
        '0': 12, '1': 6, 'total': 18}


def test_fusion_is_the_neck_without_its_transformer():
    model = build_model(ModelSpec(f'{REPO_ROOT}/configs/dset/rtdetr_r18.py'))
    parts = breakdown(model)
    flops = inference_flops(model, synthetic_batch(model, 1, (128, 128)),
                            parts.modules)
    got = parts.combine(flops.by_module)
    assert got['fusion'] + got['encoder transformer'] == \
        flops.by_module['neck']
