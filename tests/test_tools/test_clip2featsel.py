"""tools/model_converters/clip2featsel.py on a tiny random CLIP ViT: keys
load strictly, the forward equals CLIP's computed here in plain torch, the
positional grid is resized as mmseg resizes it at run time, and the output
loads into MultiModalReID through ``init_cfg``."""
import importlib.util
import math
import os.path as osp
from typing import Dict

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from featsel.engine.compat import load_local_checkpoint
from featsel.registry import MODELS
from featsel.utils.errors import CheckpointError
from tests.conftest import REPO_ROOT
from tests.tool_runner import run_tool

TOOL = 'tools/model_converters/clip2featsel.py'
# a tiny CLIP-like ViT: width 64, 2 blocks, 4 heads, patch 16, 224 input,
# projection 64 -> 32
WIDTH, LAYERS, HEADS, PATCH, SIZE, EMBED = 64, 2, 4, 16, 224, 32


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'clip2featsel', osp.join(REPO_ROOT, TOOL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conv = _load_tool()


def clip_shapes(width: int = WIDTH, layers: int = LAYERS,
                patch: int = PATCH, side: int = SIZE // PATCH,
                embed: int = EMBED) -> Dict[str, tuple]:
    """Key -> shape of a CLIP ViT image encoder (and a stub of the text
    side, which the converter ignores)."""
    shapes = {
        'visual.conv1.weight': (width, 3, patch, patch),
        'visual.class_embedding': (width, ),
        'visual.positional_embedding': (side * side + 1, width),
        'visual.ln_pre.weight': (width, ),
        'visual.ln_pre.bias': (width, ),
        'visual.ln_post.weight': (width, ),
        'visual.ln_post.bias': (width, ),
        'visual.proj': (width, embed),
        'token_embedding.weight': (10, 16),
    }
    for i in range(layers):
        b = f'visual.transformer.resblocks.{i}.'
        shapes.update({
            b + 'ln_1.weight': (width, ),
            b + 'ln_1.bias': (width, ),
            b + 'attn.in_proj_weight': (3 * width, width),
            b + 'attn.in_proj_bias': (3 * width, ),
            b + 'attn.out_proj.weight': (width, width),
            b + 'attn.out_proj.bias': (width, ),
            b + 'ln_2.weight': (width, ),
            b + 'ln_2.bias': (width, ),
            b + 'mlp.c_fc.weight': (4 * width, width),
            b + 'mlp.c_fc.bias': (4 * width, ),
            b + 'mlp.c_proj.weight': (width, 4 * width),
            b + 'mlp.c_proj.bias': (width, ),
        })
    return shapes


def random_clip(seed: int = 0) -> Dict[str, Tensor]:
    """A CLIP-format state dict of the tiny ViT with random weights:
    LayerNorm weights near 1, embeddings of std 0.5, the rest small; and
    the scalar the released archives carry (ignored)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in clip_shapes().items():
        if key.endswith('_embedding'):
            mean, std = 0.0, 0.5
        elif '.ln' in key and key.endswith('weight'):
            mean, std = 1.0, 0.05
        elif key.endswith('conv1.weight'):
            mean, std = 0.0, 0.02
        elif key.endswith('weight') or key.endswith('proj'):
            mean, std = 0.0, 0.1
        else:
            mean, std = 0.0, 0.05
        sd[key] = mean + std * torch.randn(*shape, generator=g)
    sd['input_resolution'] = torch.tensor(SIZE)
    return sd


def clip_visual_reference(sd: Dict[str, Tensor], images: Tensor) -> Tensor:
    """CLIP's image encoder written out: patches -> + class token -> +
    positions -> ln_pre -> blocks ``x + attn(ln_1 x)``, ``x + mlp(ln_2 x)``
    (QuickGELU) -> ``ln_post(x_cls) @ proj``. Returns (B, E)."""
    v = {k[len('visual.'):]: t for k, t in sd.items()
         if k.startswith('visual.')}

    def ln(x, name):
        return F.layer_norm(x, (WIDTH, ), v[name + '.weight'],
                            v[name + '.bias'])

    def linear(x, name):
        return x @ v[name + '.weight'].t() + v[name + '.bias']

    b = images.shape[0]
    x = F.conv2d(images, v['conv1.weight'], stride=PATCH)
    x = x.flatten(2).transpose(1, 2)
    cls = v['class_embedding'].expand(b, 1, WIDTH)
    x = torch.cat([cls, x], 1) + v['positional_embedding']
    x = ln(x, 'ln_pre')
    d = WIDTH // HEADS
    for i in range(LAYERS):
        p = f'transformer.resblocks.{i}.'
        h = ln(x, p + 'ln_1')
        qkv = h @ v[p + 'attn.in_proj_weight'].t() + v[p +
                                                       'attn.in_proj_bias']
        q, k, val = (t.reshape(b, -1, HEADS, d).transpose(1, 2)
                     for t in qkv.chunk(3, -1))
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), -1)
        h = (att @ val).transpose(1, 2).reshape(b, -1, WIDTH)
        x = x + linear(h, p + 'attn.out_proj')
        h = linear(ln(x, p + 'ln_2'), p + 'mlp.c_fc')
        h = h * torch.sigmoid(1.702 * h)
        x = x + linear(h, p + 'mlp.c_proj')
    return ln(x[:, 0], 'ln_post') @ v['proj']


class Encoder(nn.Module):
    """The backbone and projection the converted keys are for."""

    def __init__(self, img_size=(SIZE, SIZE)):
        super().__init__()
        with DefaultScope.overwrite_default_scope('featsel'):
            self.backbone = MODELS.build(dict(
                type='mmseg.VisionTransformer', img_size=img_size,
                patch_size=PATCH, embed_dims=WIDTH, num_layers=LAYERS,
                num_heads=HEADS, mlp_ratio=4, pre_norm=True, final_norm=True,
                output_cls_token=True, act_cfg=dict(type='QuickGELU')))
        self.projection = nn.Linear(WIDTH, EMBED)

    def forward(self, x: Tensor) -> Tensor:
        _, cls = self.backbone(x)[-1]
        return self.projection(cls)


def convert(sd, img_size=(SIZE, SIZE)):
    return conv.convert_clip(sd, img_size, 'backbone.', 'projection.')[0]


def test_keys_load_strictly_and_forward_matches_clip():
    sd = random_clip()
    model = Encoder().eval()
    result = model.load_state_dict(convert(sd), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    images = torch.randn(2, 3, SIZE, SIZE,
                         generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(images)
    expected = clip_visual_reference(sd, images)
    assert ours.shape == (2, EMBED)
    assert expected.abs().max() > 0.1  # not a degenerate comparison
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_layout_read_from_the_weights():
    layout = conv.read_layout({k[7:]: v for k, v in random_clip().items()
                               if k.startswith('visual.')})
    assert layout == conv.ClipVisual(width=WIDTH, layers=LAYERS,
                                     patch_size=PATCH, pos_grid=14,
                                     output_dim=EMBED)
    cfg = conv.backbone_config(layout, (256, 128))
    assert cfg['num_heads'] == WIDTH // 64 and cfg['img_size'] == (256, 128)


def test_resized_grid_equals_mmseg_resizing_at_run_time():
    """Converted for a 64x32 input (grid 14x14 -> 4x2), the model computes
    what the 224 model computes on a 64x32 input, where mmseg resizes the
    positional grid bicubically on the fly: the class position stays first
    and the patch grid is row-major."""
    sd = random_clip()
    small = convert(sd, (64, 32))
    assert small['backbone.pos_embed'].shape == (1, 1 + 4 * 2, WIDTH)
    assert torch.equal(small['backbone.pos_embed'][0, 0],
                       sd['visual.positional_embedding'][0])
    resized = Encoder((64, 32)).eval()
    resized.load_state_dict(small, strict=True)
    at_run_time = Encoder().eval()
    at_run_time.load_state_dict(convert(sd), strict=True)
    images = torch.randn(2, 3, 64, 32,
                         generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(resized(images), at_run_time(images),
                                   atol=1e-6, rtol=1e-6)


def test_same_grid_keeps_positions():
    pos = random_clip()['visual.positional_embedding']
    assert torch.equal(conv.resize_pos_embed(pos, (14, 14))[0], pos)


def _module_tree(sd: Dict[str, Tensor]) -> nn.Module:
    """Modules named like ``sd``'s keys, holding its tensors (what a
    TorchScript CLIP archive's ``state_dict()`` gives back)."""
    root = nn.Module()
    for key, value in sd.items():
        *path, leaf = key.split('.')
        module = root
        for name in path:
            if not hasattr(module, name):
                module.add_module(name, nn.Module())
            module = getattr(module, name)
        if value.is_floating_point():
            module.register_parameter(leaf, nn.Parameter(value))
        else:
            module.register_buffer(leaf, value)
    return root


def test_torchscript_archive_and_state_dict_through_the_tool(tmp_path):
    """Both file kinds convert to the same weights; float16 (as released)
    comes out float32; the output loads weights-only."""
    sd = {k: v.half() if v.is_floating_point() else v
          for k, v in random_clip().items()}
    archive, plain = tmp_path / 'clip_jit.pt', tmp_path / 'clip_sd.pt'
    torch.jit.script(_module_tree(sd)).save(str(archive))
    torch.save(sd, plain)
    assert conv.is_torchscript_archive(str(archive))
    assert not conv.is_torchscript_archive(str(plain))
    expected = conv.convert_clip(
        {k: v.float() if v.is_floating_point() else v
         for k, v in sd.items()}, (256, 128))[0]
    for src in (archive, plain):
        dst = tmp_path / f'{src.stem}.pth'
        proc = run_tool([TOOL, str(src), str(dst), '--img-size', '256',
                         '128'])
        assert "'embed_dims': 64" in proc.stdout
        ckpt = load_local_checkpoint(str(dst))
        assert ckpt['meta']['clip']['pos_grid'] == 14
        got = ckpt['state_dict']
        assert list(got) == list(expected)
        for key, value in expected.items():
            assert got[key].dtype == torch.float32, key
            assert torch.equal(got[key], value), key
    assert got['backbones.0.pos_embed'].shape == (1, 1 + 16 * 8, WIDTH)
    assert torch.equal(got['projections.0.fc.weight'],
                       sd['visual.proj'].float().t())


def _tiny_reid(share_backbone: bool, checkpoint: str = None) -> nn.Module:
    from featsel.utils import register_all_modules
    register_all_modules()
    cfg = dict(
        type='MultiModalReID', modalities=('RGB', 'NI'), num_classes=4,
        embed_dims=EMBED, share_backbone=share_backbone,
        backbone=dict(type='mmseg.VisionTransformer', img_size=(64, 32),
                      patch_size=PATCH, embed_dims=WIDTH, num_layers=LAYERS,
                      num_heads=HEADS, pre_norm=True, final_norm=True,
                      output_cls_token=True, act_cfg=dict(type='QuickGELU')),
        data_preprocessor=dict(type='MultiModalReIDDataPreprocessor',
                               mean=[[0.0] * 3] * 2, std=[[1.0] * 3] * 2))
    if checkpoint:
        cfg['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
    with DefaultScope.overwrite_default_scope('featsel'):
        return MODELS.build(cfg)


@pytest.mark.parametrize('share_backbone', [True, False])
def test_default_prefixes_load_into_the_reid_model(tmp_path, share_backbone):
    """With the default prefixes every converted key is a parameter of
    MultiModalReID, and ``init_cfg=dict(type='Pretrained')`` on the model
    loads them all (one copy per modality without a shared backbone)."""
    copies = 1 if share_backbone else 2
    sd, _ = conv.convert_clip(random_clip(), (64, 32),
                              num_backbones=copies)
    path = str(tmp_path / 'clip.pth')
    conv.save_checkpoint(sd, {}, path)
    own = _tiny_reid(share_backbone).state_dict()
    assert set(sd) <= set(own)
    assert all(own[k].shape == v.shape for k, v in sd.items())
    model = _tiny_reid(share_backbone, path)
    model.init_weights()
    loaded = model.state_dict()
    for key, value in sd.items():
        assert torch.equal(loaded[key], value), key
    # and nothing of the backbones and projections is left out
    assert {k for k in own if k.startswith(('backbones.', 'projections.'))
            } == set(sd)


def test_missing_key_named_in_one_line(tmp_path):
    sd = random_clip()
    del sd['visual.ln_post.bias']
    with pytest.raises(CheckpointError, match='visual.ln_post.bias'):
        conv.convert_clip(sd, (256, 128))
    src = tmp_path / 'broken.pt'
    torch.save(sd, src)
    proc = run_tool([TOOL, str(src), str(tmp_path / 'out.pth')],
                    check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f'error: "{src}" has no "visual.ln_post.bias" (1 missing, 0 unknown '
        'visual keys): not a CLIP ViT image encoder']
    assert not (tmp_path / 'out.pth').exists()


def test_other_bad_checkpoints():
    sd = random_clip()
    extra = dict(sd, **{'visual.transformer.resblocks.0.attn.bias_k':
                        torch.zeros(1)})
    with pytest.raises(CheckpointError, match='attn.bias_k'):
        conv.convert_clip(extra, (256, 128))
    rect = dict(sd, **{'visual.positional_embedding': torch.zeros(1 + 12,
                                                                  WIDTH)})
    with pytest.raises(CheckpointError, match='positional_embedding'):
        conv.convert_clip(rect, (256, 128))
    with pytest.raises(CheckpointError, match='no "visual'):
        conv.convert_clip({'token_embedding.weight': torch.zeros(2)},
                          (256, 128))
