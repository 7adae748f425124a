"""Multi-modal re-identification: ViT per modality, global-token branch and
SDTPS token-selection branch, BNNeck heads (SPEC S2)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures import ReIDDataSample
from mmengine.model import BaseModel, ModuleDict, ModuleList
from torch import Tensor, nn

from ...registry import MODELS, SELECTORS
from ...utils import ConfigError
from ..base import collect_aux_losses

SampleList = List[ReIDDataSample]
BRANCHES = ('global', 'sdtps')


def _backbone_width(backbone: nn.Module, key: str) -> int:
    """Token width ``D`` of a ViT backbone that returns its cls token."""
    if not getattr(backbone, 'output_cls_token', False) or not hasattr(
            backbone, 'cls_token'):
        raise ConfigError(
            f'{key} must be a ViT that returns its cls token '
            '(mmseg.VisionTransformer with output_cls_token=True): the '
            'global-token branch reads it')
    return backbone.cls_token.shape[-1]


@MODELS.register_module()
class MultiModalReID(BaseModel):
    """Re-identification from M aligned modalities (RGB, NIR, TIR, ...).

    Per modality ``m``, the ViT gives patch tokens and a cls token, both
    projected to width ``C``: ``P_m`` (B, N, C) and ``g_m`` (B, C). Two
    branches, each a ``(B, M*C)`` feature with its own BNNeck head:

    * ``global``: ``[g_1, ..., g_M]``;
    * ``sdtps`` (with a ``selector``): ``[mean(S_1(P_1, g_1, {g_j}_{j!=1})),
      ..., mean(S_M(...))]``, where ``S_m`` is modality ``m``'s selector
      and the mean runs over its ``N_c + 1`` output tokens.

    ``loss = sum_b w_b * (loss_id_b + loss_triplet_b) + sum(aux losses of
    the selectors)``, ``w_b`` = ``<b>_loss_weight``. The inference feature
    is the concatenation of ``test_branches`` (before or after the BN of
    their necks).

    Args:
        modalities (Sequence[str]): Modality names in channel order (e.g.
            ``('RGB', 'NI', 'TI')``); any number. The data samples'
            ``modalities`` must equal it.
        backbone (dict): ViT returning ``(patch map, cls token)``
            (``mmseg.VisionTransformer``, ``output_cls_token=True``).
        num_classes (int): Training identities.
        embed_dims (int): Projected width ``C``. Defaults to 512.
        selector (dict, optional): Token selector built once per modality
            (``embed_dims`` = C and ``num_tokens`` = N of the backbone's
            ``img_size`` filled in unless given) and called
            ``selector(P_m, g_m, [g_j for j != m]) -> (B, T, C)``; None
            trains the global-token branch alone (the baseline).
        share_backbone (bool): One backbone (and projection) for all
            modalities; False gives each modality its own. Defaults to True.
        head (dict): The BNNeck head of each branch (``in_channels`` and
            ``num_classes`` are filled in). Defaults to ``BNNeckHead``.
        global_loss_weight (float): Weight ``w_global`` of the
            global-token branch's losses. Defaults to 1.0.
        sdtps_loss_weight (float, optional): Weight ``w_sdtps`` of the
            selection branch's losses (only with a selector). Defaults to
            1.0 there.
        test_branches (Sequence[str], optional): Branches whose features
            are concatenated at inference. Defaults to every branch.
        test_feature (str): ``'before'`` or ``'after'`` the neck's BN.
            Defaults to ``'before'``.
        data_preprocessor (dict, optional): Defaults to None.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 modalities: Sequence[str],
                 backbone: dict,
                 num_classes: int,
                 embed_dims: int = 512,
                 selector: Optional[dict] = None,
                 share_backbone: bool = True,
                 head: dict = dict(type='BNNeckHead'),
                 global_loss_weight: float = 1.0,
                 sdtps_loss_weight: Optional[float] = None,
                 test_branches: Optional[Sequence[str]] = None,
                 test_feature: str = 'before',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.modalities = self._check_modality_names(modalities)
        num_mod = len(self.modalities)
        pre_mod = getattr(self.data_preprocessor, 'num_modalities', num_mod)
        if pre_mod != num_mod:
            raise ConfigError(
                f'model.data_preprocessor.mean/std are given for {pre_mod} '
                f'modalities but model.modalities lists {num_mod}: '
                f'{list(self.modalities)}')
        self.share_backbone = share_backbone
        self.backbones = ModuleList(
            MODELS.build(backbone) for _ in range(1 if share_backbone
                                                  else num_mod))
        width = _backbone_width(self.backbones[0], 'model.backbone')
        self.projections = ModuleList(
            MODELS.build(dict(type='mmdet.FcModule', in_channels=width,
                              out_channels=embed_dims, act_cfg=None))
            for _ in self.backbones)
        self.embed_dims = embed_dims
        self.selectors = None
        if selector is not None:
            # the position embedding holds the cls token and the N patches
            num_tokens = self.backbones[0].pos_embed.shape[1] - 1
            defaults = dict(embed_dims=embed_dims, num_tokens=num_tokens)
            self.selectors = ModuleDict({
                m: SELECTORS.build(selector, default_args=defaults)
                for m in self.modalities
            })
        self.branches = BRANCHES if selector is not None else BRANCHES[:1]
        self.heads = ModuleDict({
            b: MODELS.build(head, default_args=dict(
                in_channels=num_mod * embed_dims, num_classes=num_classes))
            for b in self.branches
        })
        if sdtps_loss_weight is not None and selector is None:
            raise ConfigError('model.sdtps_loss_weight weighs the selection '
                              'branch, which needs model.selector')
        self.loss_weights = {'global': global_loss_weight}
        if selector is not None:
            self.loss_weights['sdtps'] = (1.0 if sdtps_loss_weight is None
                                          else sdtps_loss_weight)
        if isinstance(test_branches, str):
            test_branches = (test_branches, )
        self.test_branches = tuple(test_branches or self.branches)
        unknown = [b for b in self.test_branches if b not in self.branches]
        if unknown:
            raise ConfigError(
                f'model.test_branches names {unknown}, but this model has '
                f'the branches {list(self.branches)} (the "sdtps" branch '
                'needs model.selector)')
        if test_feature not in ('before', 'after'):
            raise ConfigError('model.test_feature must be "before" or '
                              f'"after" (the neck BN), got {test_feature!r}')
        self.test_feature = test_feature

    # ------------------------------------------------------------------ #
    @staticmethod
    def _check_modality_names(modalities: Sequence[str]) -> Tuple[str, ...]:
        names = ((modalities, ) if isinstance(modalities, str) else
                 tuple(modalities))
        if not names or len(set(names)) != len(names) or not all(
                isinstance(m, str) and m and '.' not in m for m in names):
            raise ConfigError(
                'model.modalities must list distinct modality names (folder '
                f"names such as 'RGB', 'NI', 'TI'), got {modalities!r}")
        return names

    def _check_data(self, inputs: Tensor,
                    data_samples: Optional[SampleList]) -> None:
        """Inputs and samples must carry the model's modalities."""
        expected = 3 * len(self.modalities)
        if inputs.dim() != 4 or inputs.shape[1] != expected:
            raise ConfigError(
                f'inputs of shape {tuple(inputs.shape)} do not hold the '
                f'{len(self.modalities)} modalities {list(self.modalities)} '
                f'of model.modalities ({expected} channels expected)')
        for mods in {tuple(s.metainfo['modalities'])
                     for s in data_samples or []
                     if 'modalities' in s.metainfo}:
            if mods != self.modalities:
                raise ConfigError(
                    f'the data samples carry the modalities {list(mods)} but '
                    f'model.modalities is {list(self.modalities)}: list the '
                    'same modalities, in the same order, for the data set '
                    'and the model')

    # ------------------------------------------------------------------ #
    def extract_tokens(self, inputs: Tensor
                       ) -> Tuple[Tensor, Tensor, Tuple[int, int]]:
        """Projected patch and global tokens of every modality.

        A shared backbone sees all ``B * M`` images in one pass.

        Args:
            inputs (Tensor): (B, 3M, H, W), modality ``m`` at channels
                ``3m:3m+3``.

        Returns:
            tuple: ``patches`` (B, M, N, C), ``globals`` (B, M, C) and the
            patch grid ``(h, w)`` with ``N = h * w``.
        """
        b, _, h, w = inputs.shape
        images = inputs.view(b, len(self.modalities), 3, h, w)
        if self.share_backbone:
            patches, globs, grid = self._encode(0, images.flatten(0, 1))
            return (patches.view(b, -1, *patches.shape[1:]),
                    globs.view(b, -1, globs.shape[-1]), grid)
        encoded = [self._encode(i, images[:, i])
                   for i in range(len(self.modalities))]
        return (torch.stack([e[0] for e in encoded], 1),
                torch.stack([e[1] for e in encoded], 1), encoded[0][2])

    def _encode(self, index: int, images: Tensor
                ) -> Tuple[Tensor, Tensor, Tuple[int, int]]:
        """(B', 3, H, W) -> patches (B', N, C), global (B', C), (h, w)."""
        patch_map, cls_token = self.backbones[index](images)[-1]
        grid = tuple(patch_map.shape[-2:])
        proj = self.projections[index]
        return (proj(patch_map.flatten(2).transpose(1, 2)), proj(cls_token),
                grid)

    def branch_features(self, inputs: Tensor) -> Dict[str, Tensor]:
        """The feature of every branch before its neck.

        Args:
            inputs (Tensor): (B, 3M, H, W).

        Returns:
            dict[str, Tensor]: ``'global'`` and (with a selector)
            ``'sdtps'``, each (B, M*C).
        """
        return self._branch_features(inputs)[0]

    def _branch_features(self, inputs: Tensor
                         ) -> Tuple[Dict[str, Tensor], Tuple[int, int]]:
        """:meth:`branch_features` and the patch grid ``(h, w)``."""
        patches, globs, grid = self.extract_tokens(inputs)
        feats = {'global': globs.flatten(1)}
        if self.selectors is not None:
            pooled = []
            for i, name in enumerate(self.modalities):
                others = [globs[:, j] for j in range(len(self.modalities))
                          if j != i]
                tokens = self.selectors[name](patches[:, i], globs[:, i],
                                              others)
                pooled.append(tokens.mean(1))
            feats['sdtps'] = torch.cat(pooled, 1)
        return feats, grid

    # ------------------------------------------------------------------ #
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, Tensor], SampleList]:
        """mmengine's entry point: ``loss``, ``predict`` or ``tensor``
        (the branch features, see :meth:`branch_features`)."""
        self._check_data(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.branch_features(inputs)
        raise ValueError(f'mode must be loss, predict or tensor, not {mode!r}')

    def loss(self, inputs: Tensor,
             data_samples: SampleList) -> Dict[str, Tensor]:
        """Weighted identity and triplet losses of each branch
        (``'<branch>.loss_id'``, ``'<branch>.loss_triplet'``, and the
        identity accuracy ``'<branch>.acc'``) plus the selectors'
        regularisers (``'selectors.<modality>.<name>'``)."""
        labels = torch.cat([s.gt_label.label for s in data_samples]).to(
            inputs.device)
        losses = {}
        for branch, feats in self.branch_features(inputs).items():
            weight = self.loss_weights[branch]
            for name, value in self.heads[branch].loss(feats, labels).items():
                losses[f'{branch}.{name}'] = (value * weight
                                              if 'loss' in name else value)
        losses.update(collect_aux_losses(self))
        return losses

    def predict(self, inputs: Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Set ``pred_feature`` (D,) on each sample, and with a selector
        ``token_selection`` (modality -> ``kept_index`` (N_s,), ``scores``
        (N,), ``aggr_weights`` (N_c, N_s)) and ``token_grid`` ``(h, w)``."""
        feats, grid = self._branch_features(inputs)
        parts = [self.heads[b](feats[b]) if self.test_feature == 'after'
                 else feats[b] for b in self.test_branches]
        feature = torch.cat(parts, 1)
        if data_samples is None:
            data_samples = [ReIDDataSample() for _ in range(len(feature))]
        selections = ({m: s.last_selection for m, s in self.selectors.items()}
                      if self.selectors is not None else None)
        for i, sample in enumerate(data_samples):
            sample.pred_feature = feature[i]
            if selections is not None:
                sample.token_selection = {
                    m: {key: value[i] for key, value in sel.items()
                        if key in ('kept_index', 'scores', 'aggr_weights')}
                    for m, sel in selections.items()
                }
                sample.token_grid = grid
        return data_samples
