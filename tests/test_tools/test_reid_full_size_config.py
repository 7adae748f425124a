"""The full-size ReID configs (CLIP ViT-B/16 at 256 x 128): they build,
fit a converted CLIP checkpoint key for key, and run one training step of
two samples (three modalities each) with the DeMo learning rates, each in a
fresh process."""
import glob
import json
import os.path as osp
import sys

import pytest
from mmengine.config import Config

from tests.conftest import REPO_ROOT
from tests.tool_runner import run_tool

CONFIGS = sorted(osp.relpath(p, REPO_ROOT) for p in glob.glob(
    osp.join(REPO_ROOT, 'configs', 'reid', '*vit_b16*.py')))

# Parameters of the ViT-B/16 backbone at 256 x 128, counted by hand:
# patch conv 768*3*16*16 + cls 768 + positions (1 + 16*8)*768 + ln_pre 2*768
# + 12 blocks x (ln1 2*768 + qkv 3*768*768 + 3*768 + out 768*768 + 768
# + ln2 2*768 + fc1 768*3072 + 3072 + fc2 3072*768 + 768) + ln_post 2*768.
BLOCK = 2 * 768 + 3 * 768 * 768 + 3 * 768 + 768 * 768 + 768 + 2 * 768 + \
    768 * 3072 + 3072 + 3072 * 768 + 768
VIT_B16_256x128 = (768 * 3 * 16 * 16 + 768 + 129 * 768 + 2 * 768 +
                   12 * BLOCK + 2 * 768)
PROJECTION = 768 * 512 + 512

SCRIPT = '''
import importlib.util, json, sys
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmdet.structures import ReIDDataSample
from featsel.registry import MODELS
from featsel.utils import register_all_modules
from tests.test_tools.test_clip2featsel import clip_shapes

register_all_modules()
cfg = Config.fromfile(sys.argv[1])
cfg.model.init_cfg = None  # no checkpoint in the tests
torch.manual_seed(0)
with DefaultScope.overwrite_default_scope('featsel'):
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
out = dict(modalities=list(model.modalities))
params = {n: p.numel() for n, p in model.named_parameters()}
out['backbone_params'] = sum(v for n, v in params.items()
                             if n.startswith('backbones.0.'))
out['projection_params'] = sum(v for n, v in params.items()
                               if n.startswith('projections.0.'))

# a CLIP ViT-B/16 state dict (values irrelevant) converted for this config
spec = importlib.util.spec_from_file_location(
    'clip2featsel', 'tools/model_converters/clip2featsel.py')
conv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conv)
clip = {k: torch.zeros(s) for k, s in clip_shapes(
    width=768, layers=12, patch=16, side=14, embed=512).items()}
converted, _ = conv.convert_clip(clip, cfg.model.backbone.img_size)
own = model.state_dict()
out['not_in_model'] = sorted(set(converted) - set(own))
out['shape_mismatch'] = sorted(k for k in set(converted) & set(own)
                               if converted[k].shape != own[k].shape)
out['not_converted'] = sorted(
    k for k in own if k.startswith(('backbones.', 'projections.'))
    and k not in converted)
del clip, converted

# one training step: two samples of two identities, every modality
h, w = cfg.model.backbone.img_size
g = torch.Generator().manual_seed(0)
m = len(model.modalities)
samples = []
for label in (0, 1):
    s = ReIDDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                     modalities=tuple(model.modalities)))
    s.set_gt_label(label)
    samples.append(s)
batch = dict(inputs=[torch.randint(256, (3 * m, h, w), generator=g,
                                   dtype=torch.uint8) for _ in samples],
             data_samples=samples)
watch = ['backbones.0.patch_embed.projection.weight',
         'backbones.0.layers.11.ffn.layers.1.weight',
         'projections.0.fc.weight', 'heads.global.classifier.weight']
named = dict(model.named_parameters())
before = {n: named[n].detach().clone() for n in watch}
model.train()
log_vars = model.train_step(batch, optim_wrapper)
out['log_vars'] = {k: float(v) for k, v in log_vars.items()}
out['step'] = {n: float((named[n].detach() - before[n]).abs().max())
               for n in watch}
out['lr'] = {n: next(grp['lr'] for grp in optim_wrapper.optimizer.param_groups
                     if any(p is named[n] for p in grp['params']))
             for n in watch}
print(json.dumps(out))
'''


def test_full_size_configs_exist():
    assert 'configs/reid/baseline_vit_b16_rgbnt201.py' in CONFIGS


@pytest.mark.parametrize('config', CONFIGS)
def test_full_size_config_trains_one_step(config):
    proc = run_tool([sys.executable, '-c', SCRIPT, config], timeout=600)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    # the DeMo recipe: 256 x 128, 8 identities x 8 images, Adam 3.5e-4
    assert tuple(cfg.model.backbone.img_size) == (256, 128)
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_dataloader.sampler.num_instances == 8
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.lr == 3.5e-4
    assert cfg.train_cfg.max_epochs == 50
    assert out['modalities'] == ['RGB', 'NI', 'TI']
    assert out['backbone_params'] == VIT_B16_256x128
    assert out['projection_params'] == PROJECTION
    # a converted CLIP ViT-B/16 fits key for key
    assert out['not_in_model'] == [] and out['shape_mismatch'] == []
    assert out['not_converted'] == []
    # the step: finite losses of every branch, and Adam's first step moves
    # each weight by at most its group's learning rate (|m/sqrt(v)| = 1)
    losses = {k: v for k, v in out['log_vars'].items() if 'loss' in k}
    assert 'global.loss_id' in losses and 'global.loss_triplet' in losses
    if cfg.model.get('selector'):
        assert 'sdtps.loss_id' in losses
    assert all(v == v and abs(v) < 1e4 for v in losses.values()), losses
    for name, step in out['step'].items():
        assert step == pytest.approx(out['lr'][name], rel=0.02), name
    # the CLIP tower trains at its lr_mult (custom key 'backbones'), the
    # head at the base rate
    base_lr = cfg.optim_wrapper.optimizer.lr
    mult = cfg.optim_wrapper.paramwise_cfg.custom_keys['backbones'].lr_mult
    assert mult < 1
    assert out['lr']['backbones.0.patch_embed.projection.weight'] == \
        pytest.approx(base_lr * mult)
    assert out['lr']['heads.global.classifier.weight'] == \
        pytest.approx(base_lr)
