"""Convert the image encoder of an OpenAI CLIP checkpoint for S2's ReID
models: ``python tools/model_converters/clip2featsel.py SRC DST``.

SRC is the CLIP file as released (a TorchScript archive, e.g.
``ViT-B-16.pt``) or a plain state dict with CLIP's keys; only the
``visual.*`` weights are read. DST is a ``.pth`` file holding
``state_dict`` (the keys of ``MultiModalReID``: its ViT backbone and the
projection to the embedding width) and ``meta``. The model loads it with::

    model = dict(..., init_cfg=dict(type='Pretrained',
                                    checkpoint='data/pretrained/clip_b16.pth'))

(on the whole model, not on the backbone: mmseg's ``VisionTransformer``
loads its own ``init_cfg`` without the key prefix).

Key mapping, CLIP ``visual.<key>`` -> backbone key of mmseg's
``VisionTransformer``:

* ``conv1.weight`` -> ``patch_embed.projection.weight``;
* ``class_embedding`` (D,) -> ``cls_token`` (1, 1, D);
* ``positional_embedding`` (1 + S*S, D) -> ``pos_embed`` (1, 1 + h*w, D);
* ``ln_pre.*`` -> ``ln_pre.*`` (``pre_norm=True``);
* ``transformer.resblocks.<i>.`` ``ln_1``, ``attn.in_proj_*``,
  ``attn.out_proj.*``, ``ln_2``, ``mlp.c_fc``, ``mlp.c_proj`` ->
  ``layers.<i>.`` ``ln1``, ``attn.attn.in_proj_*``, ``attn.attn.out_proj.*``,
  ``ln2``, ``ffn.layers.0.0``, ``ffn.layers.1``;
* ``ln_post.*`` -> ``ln1.*`` (``final_norm=True``);
* ``proj`` (D, E) -> the projection ``nn.Linear(D, E)``:
  ``weight = proj^T`` (E, D), ``bias = 0``.

The patch part of the positional embedding, an ``S x S`` grid (14 x 14 for
ViT-B/16 at 224), is resized to the model's grid ``h x w = H // p x W // p``
(16 x 8 for 256 x 128) by bicubic interpolation (``align_corners=False``);
the class position is kept. CLIP normalises the class token alone with
``ln_post``; the backbone normalises every token with the same per-token
LayerNorm, so its class token equals CLIP's. Weights are stored as float32
(the released archives hold float16).

The backbone config that fits (printed by the tool)::

    backbone=dict(type='mmseg.VisionTransformer', img_size=(256, 128),
                  patch_size=16, embed_dims=768, num_layers=12,
                  num_heads=12, mlp_ratio=4, pre_norm=True, final_norm=True,
                  output_cls_token=True, act_cfg=dict(type='QuickGELU'))

Example::

    python tools/model_converters/clip2featsel.py ViT-B-16.pt \\
        data/pretrained/clip_vit_b16_256x128.pth --img-size 256 128
    # one backbone (and projection) per modality (share_backbone=False)
    python tools/model_converters/clip2featsel.py ViT-B-16.pt OUT.pth \\
        --num-backbones 3
"""
import argparse
import io
import os.path as osp
import sys
import zipfile
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Dict, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# Make ``featsel`` importable when the repository is not installed.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from featsel.engine.compat import load_local_checkpoint  # noqa: E402
from featsel.utils import write_bytes_atomic  # noqa: E402
from featsel.utils.cli import run_cli  # noqa: E402
from featsel.utils.errors import CheckpointError  # noqa: E402

PREFIX = 'visual.'
RESBLOCK = 'transformer.resblocks.'
#: CLIP key (after ``visual.``) -> backbone key, for keys copied as they are
TOP_KEYS = {
    'conv1.weight': 'patch_embed.projection.weight',
    'ln_pre.weight': 'ln_pre.weight',
    'ln_pre.bias': 'ln_pre.bias',
    'ln_post.weight': 'ln1.weight',
    'ln_post.bias': 'ln1.bias',
}
#: CLIP key inside ``transformer.resblocks.<i>.`` -> key in ``layers.<i>.``
BLOCK_KEYS = {
    'ln_1.weight': 'ln1.weight',
    'ln_1.bias': 'ln1.bias',
    'attn.in_proj_weight': 'attn.attn.in_proj_weight',
    'attn.in_proj_bias': 'attn.attn.in_proj_bias',
    'attn.out_proj.weight': 'attn.attn.out_proj.weight',
    'attn.out_proj.bias': 'attn.attn.out_proj.bias',
    'ln_2.weight': 'ln2.weight',
    'ln_2.bias': 'ln2.bias',
    'mlp.c_fc.weight': 'ffn.layers.0.0.weight',
    'mlp.c_fc.bias': 'ffn.layers.0.0.bias',
    'mlp.c_proj.weight': 'ffn.layers.1.weight',
    'mlp.c_proj.bias': 'ffn.layers.1.bias',
}
#: CLIP keys converted by hand (shapes change)
SPECIAL_KEYS = ('class_embedding', 'positional_embedding', 'proj')
#: CLIP's attention heads: one per 64 channels
HEAD_WIDTH = 64


@dataclass(frozen=True)
class ClipVisual:
    """The shape of a CLIP image encoder, read from its weights.

    Args:
        width (int): Token width ``D``.
        layers (int): Residual attention blocks.
        patch_size (int): Patch side ``p``.
        pos_grid (int): Side ``S`` of the positional-embedding grid.
        output_dim (int): Projected width ``E``.
    """

    width: int
    layers: int
    patch_size: int
    pos_grid: int
    output_dim: int


def is_torchscript_archive(path: str) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding compiled
    code), as OpenAI releases CLIP, rather than a ``torch.save`` file."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any('/code/' in name or name.endswith('/constants.pkl')
                   for name in archive.namelist())


def load_clip_state_dict(path: str) -> Dict[str, Tensor]:
    """CLIP's weights from a TorchScript archive or a plain state dict
    (optionally under ``state_dict``), floating point as float32.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: The file cannot be read or holds no state dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'CLIP checkpoint "{path}" does not exist')
    if is_torchscript_archive(path):
        try:
            state = torch.jit.load(path, map_location='cpu').state_dict()
        except RuntimeError as err:
            raise CheckpointError(
                f'CLIP checkpoint "{path}" is a TorchScript archive that '
                f'cannot be loaded: {str(err).splitlines()[0]}') from err
    else:
        state = load_local_checkpoint(path, map_location='cpu')
        if isinstance(state, Mapping) and 'state_dict' in state:
            state = state['state_dict']
    if not isinstance(state, Mapping) or not all(
            isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f'"{path}" holds no state dict of tensors')
    return {k: v.float() if v.is_floating_point() else v
            for k, v in state.items()}


def _require(visual: Mapping[str, Tensor], key: str, ndim: int,
             src: str) -> Tensor:
    if key not in visual:
        raise CheckpointError(
            f'{src} has no "{PREFIX}{key}": not a CLIP ViT checkpoint')
    value = visual[key]
    if value.dim() != ndim:
        raise CheckpointError(
            f'{src}: "{PREFIX}{key}" has shape {tuple(value.shape)}, '
            f'expected {ndim} dimensions')
    return value


def read_layout(visual: Mapping[str, Tensor],
                src: str = 'the checkpoint') -> ClipVisual:
    """Check the ``visual.`` weights (prefix removed) of a CLIP ViT and
    read its shape.

    Raises:
        CheckpointError: A key is missing or unknown, a shape is wrong, or
            the positional embedding is no square grid plus the class
            position; the message names the key.
    """
    conv = _require(visual, 'conv1.weight', 4, src)
    pos = _require(visual, 'positional_embedding', 2, src)
    proj = _require(visual, 'proj', 2, src)
    width, patch = conv.shape[0], conv.shape[-1]
    blocks = sorted({int(k[len(RESBLOCK):].split('.')[0])
                     for k in visual if k.startswith(RESBLOCK)})
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointError(
            f'{src}: the blocks "{PREFIX}{RESBLOCK}<i>" are {blocks}, '
            'expected 0, 1, ..., L-1')
    expected = set(TOP_KEYS) | set(SPECIAL_KEYS) | {
        f'{RESBLOCK}{i}.{k}' for i in blocks for k in BLOCK_KEYS}
    missing = sorted(expected - set(visual))
    unknown = sorted(set(visual) - expected)
    if missing or unknown:
        what = (f'has no "{PREFIX}{missing[0]}"' if missing else
                f'holds "{PREFIX}{unknown[0]}", which no backbone key takes')
        raise CheckpointError(
            f'{src} {what} ({len(missing)} missing, {len(unknown)} unknown '
            'visual keys): not a CLIP ViT image encoder')
    side = round((pos.shape[0] - 1)**0.5)
    if side * side + 1 != pos.shape[0] or pos.shape[1] != width:
        raise CheckpointError(
            f'{src}: "{PREFIX}positional_embedding" has shape '
            f'{tuple(pos.shape)}, expected (1 + S*S, {width})')
    if proj.shape[0] != width:
        raise CheckpointError(
            f'{src}: "{PREFIX}proj" has shape {tuple(proj.shape)}, expected '
            f'({width}, E)')
    return ClipVisual(width=width, layers=len(blocks), patch_size=patch,
                      pos_grid=side, output_dim=proj.shape[1])


def resize_pos_embed(pos: Tensor, grid: Tuple[int, int]) -> Tensor:
    """Positional embedding of an ``S x S`` patch grid resized to ``grid``.

    Args:
        pos (Tensor): (1 + S*S, D), the class position first.
        grid (tuple[int, int]): Target patch grid ``(h, w)``.

    Returns:
        Tensor: (1, 1 + h*w, D); the class position unchanged, the patch
        part bicubically interpolated (``align_corners=False``), row-major.
    """
    side = round((pos.shape[0] - 1)**0.5)
    cls_pos, patch_pos = pos[:1], pos[1:]
    if (side, side) != tuple(grid):
        patch_map = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        patch_map = F.interpolate(patch_map, size=tuple(grid),
                                  mode='bicubic', align_corners=False)
        patch_pos = patch_map.flatten(2).transpose(1, 2)[0]
    return torch.cat([cls_pos, patch_pos]).unsqueeze(0)


def convert_visual(visual: Mapping[str, Tensor],
                   grid: Tuple[int, int]) -> Tuple[Dict[str, Tensor],
                                                   Dict[str, Tensor]]:
    """CLIP's ``visual.`` weights (prefix removed, checked by
    :func:`read_layout`) as backbone and projection state dicts.

    Args:
        visual (Mapping[str, Tensor]): The image-encoder weights.
        grid (tuple[int, int]): The backbone's patch grid ``(h, w)``.

    Returns:
        tuple: Backbone keys (mmseg ``VisionTransformer``) and the
        projection's ``weight`` (E, D) = ``proj^T`` and ``bias`` (E,) = 0.
    """
    backbone = OrderedDict()
    for key, new in TOP_KEYS.items():
        backbone[new] = visual[key]
    width = visual['class_embedding'].shape[0]
    backbone['cls_token'] = visual['class_embedding'].reshape(1, 1, width)
    backbone['pos_embed'] = resize_pos_embed(visual['positional_embedding'],
                                             grid)
    for key, value in visual.items():
        if key.startswith(RESBLOCK):
            index, rest = key[len(RESBLOCK):].split('.', 1)
            backbone[f'layers.{index}.{BLOCK_KEYS[rest]}'] = value
    proj = visual['proj']
    projection = OrderedDict(weight=proj.t().contiguous(),
                             bias=proj.new_zeros(proj.shape[1]))
    return backbone, projection


def convert_clip(clip: Mapping[str, Tensor],
                 img_size: Sequence[int],
                 backbone_prefix: str = 'backbones.{i}.',
                 projection_prefix: str = 'projections.{i}.fc.',
                 num_backbones: int = 1,
                 src: str = 'the checkpoint'
                 ) -> Tuple['OrderedDict[str, Tensor]', ClipVisual]:
    """A CLIP state dict as the state dict of a model's backbone(s) and
    projection(s).

    Args:
        clip (Mapping[str, Tensor]): CLIP's weights (``visual.*`` read,
            the text encoder ignored).
        img_size (Sequence[int]): The backbone's input ``(H, W)``; the
            patch grid is ``(H // p, W // p)``.
        backbone_prefix (str): Key prefix of backbone ``i`` in the model
            (``{i}`` is replaced by the index).
        projection_prefix (str): Key prefix of the ``nn.Linear`` of
            projection ``i``.
        num_backbones (int): Copies written, ``i = 0 .. n-1`` (one per
            modality when the model does not share its backbone).
        src (str): Name of the source in error messages.

    Returns:
        tuple: The state dict and the encoder's :class:`ClipVisual`.
    """
    visual = {k[len(PREFIX):]: v for k, v in clip.items()
              if k.startswith(PREFIX)}
    if not visual:
        raise CheckpointError(
            f'{src} has no "{PREFIX}*" keys: not a CLIP checkpoint')
    layout = read_layout(visual, src)
    grid = (img_size[0] // layout.patch_size,
            img_size[1] // layout.patch_size)
    if min(grid) < 1:
        raise CheckpointError(
            f'--img-size {tuple(img_size)} is smaller than one '
            f'{layout.patch_size}-pixel patch')
    backbone, projection = convert_visual(visual, grid)
    out = OrderedDict()
    for i in range(num_backbones):
        for prefix, part in ((backbone_prefix, backbone),
                             (projection_prefix, projection)):
            head = prefix.format(i=i)
            out.update((head + k, v.clone()) for k, v in part.items())
    return out, layout


def backbone_config(layout: ClipVisual, img_size: Sequence[int]) -> dict:
    """The ``mmseg.VisionTransformer`` settings the converted weights fit
    (CLIP: one head per 64 channels, MLP ratio 4, QuickGELU)."""
    return dict(type='mmseg.VisionTransformer', img_size=tuple(img_size),
                patch_size=layout.patch_size, embed_dims=layout.width,
                num_layers=layout.layers,
                num_heads=layout.width // HEAD_WIDTH, mlp_ratio=4,
                pre_norm=True, final_norm=True, output_cls_token=True,
                act_cfg=dict(type='QuickGELU'))


def save_checkpoint(state_dict: Mapping[str, Tensor], meta: dict,
                    path: str) -> None:
    """Write ``dict(state_dict, meta)`` with ``torch.save``, atomically."""
    buffer = io.BytesIO()
    torch.save(dict(state_dict=state_dict, meta=meta), buffer)
    write_bytes_atomic(buffer.getvalue(), path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an OpenAI CLIP image encoder to the keys of '
        "featsel's ReID backbone and projection")
    parser.add_argument('src', help='CLIP checkpoint: TorchScript archive '
                        'or plain state dict')
    parser.add_argument('dst', help='output .pth file')
    parser.add_argument('--img-size', type=int, nargs=2, default=[256, 128],
                        metavar=('H', 'W'),
                        help="the backbone's img_size (default: 256 128)")
    parser.add_argument('--backbone-prefix', default='backbones.{i}.',
                        help='key prefix of backbone i in the model '
                        '(default: %(default)s)')
    parser.add_argument('--projection-prefix', default='projections.{i}.fc.',
                        help='key prefix of the Linear of projection i '
                        '(default: %(default)s)')
    parser.add_argument('--num-backbones', type=int, default=1,
                        help='copies written (one per modality with '
                        'share_backbone=False; default: 1)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.num_backbones < 1:
        raise CheckpointError(
            f'--num-backbones must be >= 1, got {args.num_backbones}')
    clip = load_clip_state_dict(args.src)
    state_dict, layout = convert_clip(
        clip, args.img_size, args.backbone_prefix, args.projection_prefix,
        args.num_backbones, src=f'"{args.src}"')
    config = backbone_config(layout, args.img_size)
    meta = dict(source=osp.basename(args.src), clip=asdict(layout),
                img_size=list(args.img_size), backbone=repr(config))
    save_checkpoint(state_dict, meta, args.dst)
    print(f'wrote {len(state_dict)} tensors to {args.dst}')
    print(f'backbone: {config}')
    print(f'projection: Linear({layout.width} -> {layout.output_dim}), '
          'model.embed_dims=' + str(layout.output_dim))
    return meta


if __name__ == '__main__':
    run_cli(main)
