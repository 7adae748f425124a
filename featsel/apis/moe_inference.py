r"""MoE-I inference: one global pass, a calibrated router, one expert's
decoder, tiled (SPEC S3, seed 002 §4).

For one image ``x`` (:class:`MoEIRestorer`, mode ``'moe_actual'``):

1. **Global pass**, once: the encoder and the global bottleneck of the
   *global source* (the dense-unified model by default) run over the whole
   image in crop mini-batches, and their result is cached
   (:class:`~featsel.models.restorers.RestorerCache`); ``g =
   cache.global_vec`` ``(1, D)``.
2. **Route**: ``p = softmax(router(g) / T)`` (:class:`CalibratedRouter`,
   ``T`` and ``tau`` from the calibration JSON). If ``max_k p_k < tau`` the
   router abstains and the dense-unified model restores the image, else
   expert ``k = argmax_k p_k``.
3. **Decode**: the chosen model's decoder, with its task's adapters, tile
   by tile from the cache, tiles blended
   (:func:`featsel.apis.restoration.tiled_decode`: tile 512, overlap 64,
   Hann by default).

The router reads the cached vector, never the image: routing adds one small
MLP call to the expert's own pass.

**Sharing the cache.** A model reuses the global source's cache when its
encoder and bottleneck are the same: identical parameters and buffers of
``encoder.*`` and ``bottleneck.*`` and the same architecture, and adapters
in the decoder only (``adapter_position='decoder'``). That is the case of
experts fine-tuned from the dense checkpoint with the encoder and the
bottleneck frozen (the S3 recipe). A model whose encoder or bottleneck
differs (separately trained checkpoints, or adapters in the encoder) runs
its own global pass when chosen: this is reported once when the restorer is
built (which model, the largest weight difference) and per image
(``encoder_passes = 2``); it costs one more encoder + bottleneck pass, the
larger part of an expert pass at high resolution (the encoder and
bottleneck are ~45 % of the demo backbone's FLOPs per megapixel). Choose
``global_source`` so that the common case shares: with experts that share
an encoder different from the dense model's, make an expert the source and
only abstained images pay the second pass. The router must be trained on
the global vectors of the same source (the utility-label tool uses this
class, so it is).

**Modes** (:data:`MODES`; the comparison table and the ablations of seed
002 §5):

* ``'dense'`` -- the dense-unified model alone (one pass, no router);
* ``'moe_actual'`` -- the calibrated router with abstention (above);
* ``'moe_oracle'`` -- every expert decodes from the cache and the one with
  the best PSNR against the clean image ``gt`` is kept (an upper bound that
  needs the answer; its latency includes all ``K`` decodes);
* ``'top2'`` -- the two most probable experts, their outputs blended with
  weights ``p_k / (p_(1) + p_(2))`` (no abstention);
* ``'forced_misroute'`` -- the expert given by the caller (``expert=``), for
  the forced-misrouting curve (the caller draws the wrong experts,
  :func:`featsel.evaluation.routing.forced_misroute`); the router still
  runs, for the record;
* ``'local_router'`` -- as ``'moe_actual'`` with the local router of
  ablation A (image statistics, no global vector) and its own calibration.

Each call returns a :class:`MoEIOutput`: the image, the route, ``p``,
``p_max``, the abstention flag, and the time of each stage (``encode``,
``route``, ``decode``, milliseconds; CUDA work is synchronised at each
boundary) with ms per megapixel. The *routing overhead* of an image is
``route_ms / (encode_ms + decode_ms)``: what MoE-I adds to the chosen
model's own pass.
"""
import json
import logging
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from ..analysis.timing import synchronize
from ..evaluation.calibration import read_calibration
from ..evaluation.restoration import psnr
from ..evaluation.routing import DENSE, top2_weights
from ..models.restorers import GlobalLocalRestorer, RestorerCache
from ..models.routers import UtilityRouter
from ..utils import ConfigError, DataError
from .restoration import (ImageInput, _as_tensor, check_blend, find_restorer,
                          tiled_decode)

MODES = ('dense', 'moe_actual', 'moe_oracle', 'top2', 'forced_misroute',
         'local_router')
#: name of the dense-unified model among the routes
DENSE_NAME = 'dense'
#: files of a calibrated router folder (written by
#: ``tools/analysis_tools/calibrate_router.py``)
ROUTER_FILE = 'router.json'
CALIBRATION_FILE = 'calibration.json'
ModelFiles = Tuple[str, Optional[str]]


# ---------------------------------------------------------------------- #
# router
# ---------------------------------------------------------------------- #
class CalibratedRouter(NamedTuple):
    """A trained router, the experts its outputs stand for, and its
    calibration.

    Attributes:
        router (UtilityRouter): Gives ``(1, K)`` logits.
        experts (tuple[str, ...]): Expert (adapter task) of each output.
        temperature (float): ``T`` of ``p = softmax(z / T)``.
        tau (float): Abstain when ``max p < tau``.
    """

    router: UtilityRouter
    experts: Tuple[str, ...]
    temperature: float = 1.0
    tau: float = 0.0

    def logits(self, global_vec: Tensor, image: Tensor) -> Tensor:
        """``(1, K)`` logits; the router reads the input its ``input``
        names (the cached vector or the image) and ignores the other."""
        return self.router(global_vec=global_vec, image=image)

    def probs(self, logits: Tensor) -> Tensor:
        """``softmax(z / T)``: ``(1, K) -> (K,)``, float32 or wider."""
        return UtilityRouter.predict_proba(logits, self.temperature)[0]


def load_calibrated_router(folder: str, device: str = 'cpu'
                           ) -> Tuple[CalibratedRouter, dict]:
    """The router of a calibrated router folder.

    The folder holds ``router.json`` (``config`` and ``checkpoint`` of the
    chosen :class:`~featsel.models.restorers.UtilityRouterModel`, and how it
    was chosen) and ``calibration.json`` (``T``, ``tau``; see
    :mod:`featsel.evaluation.calibration`).

    Args:
        folder (str): The folder.
        device (str): Where the router goes. Defaults to 'cpu'.

    Returns:
        tuple[CalibratedRouter, dict]: The router and ``router.json``.

    Raises:
        DataError: A file is missing or lacks a key.
    """
    from .inference import init_model
    path = osp.join(folder, ROUTER_FILE)
    if not osp.isfile(path):
        raise DataError(f'{path} does not exist: calibrate the router first '
                        '(tools/analysis_tools/calibrate_router.py)')
    with open(path, encoding='utf-8') as f:
        info = json.load(f)
    missing = [k for k in ('config', 'checkpoint') if k not in info]
    if missing:
        raise DataError(f'{path} lacks {missing}')
    calibration = read_calibration(osp.join(folder, CALIBRATION_FILE))
    model = init_model(info['config'], info['checkpoint'], device)
    if not hasattr(model, 'router') or not hasattr(model, 'experts'):
        raise DataError(f'{path}: the config {info["config"]} does not '
                        'build a UtilityRouterModel')
    return CalibratedRouter(model.router, tuple(model.experts),
                            calibration.temperature, calibration.tau), info


# ---------------------------------------------------------------------- #
# cache sharing
# ---------------------------------------------------------------------- #
_GLOBAL_PARTS = ('encoder.', 'bottleneck.')


def _global_state(backbone: GlobalLocalRestorer) -> Dict[str, Tensor]:
    return {k: v for k, v in backbone.state_dict().items()
            if k.startswith(_GLOBAL_PARTS)}


def global_pass_difference(source: GlobalLocalRestorer,
                           other: GlobalLocalRestorer) -> Optional[str]:
    """Why ``other`` cannot decode from ``source``'s cache, or None if it
    can (see the module docstring).

    Returns:
        str | None: A reason naming the first difference (and the largest
        weight difference), None when the global passes are the same.
    """
    if other is source:
        return None
    if other.adapter_position == 'all' and other.adapters:
        return 'its adapters run in the encoder (adapter_position="all")'
    for attr in ('in_channels', 'embed_dims', 'token_pool', 'token_stride'):
        if getattr(source, attr) != getattr(other, attr):
            return (f'{attr} differs ({getattr(source, attr)} vs '
                    f'{getattr(other, attr)})')
    a, b = _global_state(source), _global_state(other)
    if a.keys() != b.keys():
        return 'its encoder or bottleneck has other parameters'
    largest, where = 0.0, ''
    for key, value in a.items():
        if value.shape != b[key].shape:
            return f'{key} has shape {tuple(b[key].shape)}, not ' \
                f'{tuple(value.shape)}'
        if not torch.equal(value, b[key].to(value.device)):
            diff = (value.double() - b[key].to(value.device).double()).abs()
            if diff.max().item() >= largest:
                largest, where = diff.max().item(), key
    if where:
        return (f'its encoder / bottleneck weights differ (largest '
                f'difference {largest:.3g} in {where})')
    return None


# ---------------------------------------------------------------------- #
# output
# ---------------------------------------------------------------------- #
@dataclass
class MoEIOutput:
    """What one MoE-I call returns.

    Attributes:
        image (Tensor): ``(1, 3, H, W)`` restored image (not clipped).
        mode (str): The mode.
        route (str): ``'dense'``, an expert, or ``'a+b'`` for ``top2``.
        route_index (int): Expert index, :data:`DENSE` (-1) for the dense
            model; the more probable one for ``top2``.
        probs (list[float], optional): Calibrated ``p`` (``K``), None
            without a router.
        logits (list[float], optional): The router's logits.
        abstained (bool): ``max p < tau`` sent the image to the dense model.
        weights (dict[str, float], optional): ``top2`` blend weights.
        expert_psnr (dict[str, float], optional): ``moe_oracle``: PSNR of
            every expert against ``gt``.
        timing (dict[str, float]): ``encode_ms``, ``route_ms``,
            ``decode_ms``, ``total_ms``.
        encoder_passes (int): Global passes run (1 when the cache is
            shared).
        decoded (list[str]): Models whose decoder ran.
        megapixels (float): ``H * W / 1e6``.
    """

    image: Tensor
    mode: str
    route: str
    route_index: int
    probs: Optional[List[float]] = None
    logits: Optional[List[float]] = None
    abstained: bool = False
    weights: Optional[Dict[str, float]] = None
    expert_psnr: Optional[Dict[str, float]] = None
    timing: Dict[str, float] = field(default_factory=dict)
    encoder_passes: int = 1
    decoded: List[str] = field(default_factory=list)
    megapixels: float = 0.0

    @property
    def p_max(self) -> Optional[float]:
        """``max_k p_k`` (None without a router)."""
        return None if self.probs is None else max(self.probs)

    @property
    def ms_per_mp(self) -> float:
        """Total milliseconds per megapixel."""
        return self.timing['total_ms'] / self.megapixels

    @property
    def routing_overhead(self) -> Optional[float]:
        """``route_ms / (encode_ms + decode_ms)`` (None without a
        router)."""
        if self.probs is None:
            return None
        own = self.timing['encode_ms'] + self.timing['decode_ms']
        return self.timing['route_ms'] / own

    def moe_record(self) -> dict:
        """The ``moe`` field of a per-image record (seed 002 §6)."""
        record = dict(type='MoE-I', mode=self.mode, route=self.route,
                      route_index=self.route_index, pmax=self.p_max,
                      abstained=self.abstained, probs=self.probs,
                      logits=self.logits)
        if self.weights is not None:
            record['weights'] = self.weights
        if self.expert_psnr is not None:
            record['expert_psnr'] = self.expert_psnr
        return record

    def cost_record(self) -> dict:
        """The ``cost`` field of a per-image record."""
        return dict(latency_ms=self.timing['total_ms'],
                    ms_per_mp=self.ms_per_mp, **{
                        k: v for k, v in self.timing.items()
                        if k != 'total_ms'},
                    routing_overhead=self.routing_overhead,
                    encoder_passes=self.encoder_passes,
                    decoded=list(self.decoded))


class _Clock:
    """Milliseconds per stage, CUDA work synchronised at each boundary."""

    def __init__(self, device: torch.device) -> None:
        self.device = str(device)
        self.spent = dict(encode_ms=0.0, route_ms=0.0, decode_ms=0.0)
        synchronize(self.device)
        self.start = self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        synchronize(self.device)
        now = time.perf_counter()
        self.spent[f'{stage}_ms'] += 1e3 * (now - self.last)
        self.last = now

    def timing(self) -> Dict[str, float]:
        return dict(self.spent, total_ms=1e3 * (self.last - self.start))


# ---------------------------------------------------------------------- #
# the restorer
# ---------------------------------------------------------------------- #
class MoEIRestorer:
    """The dense-unified model, ``K`` experts and calibrated routers behind
    one call (module docstring).

    Attributes:
        dense_model (nn.Module): ``dense`` as given (from
            :meth:`from_files`: with its config as ``.cfg``).
        backbones (dict[str, GlobalLocalRestorer]): ``'dense'`` and each
            expert's backbone.
        own_pass (dict[str, str]): Models that cannot reuse the global
            pass, and why.

    Args:
        dense (nn.Module): The dense-unified model (a
            :class:`GlobalLocalRestorer` or a model holding one as
            ``.backbone``), used without adapters.
        experts (Mapping[str, nn.Module]): Expert name (its adapter task)
            -> model whose backbone has that task's adapters; one model may
            serve several names. Ordered as the router's outputs when a
            router is given.
        router (CalibratedRouter, optional): The global router (``input=
            'global'``); needed by ``moe_actual``, ``top2`` and
            ``forced_misroute`` (for the record).
        local_router (CalibratedRouter, optional): The local router of
            ablation A (``input='local'``), for ``local_router``.
        global_source (str): ``'dense'`` or an expert whose encoder and
            bottleneck make the cached global pass. Defaults to
            ``'dense'``.
        tile (int): Largest tile side. Defaults to 512.
        overlap (int): Tile overlap. Defaults to 64.
        blend (str): ``'hann'`` or ``'uniform'``. Defaults to ``'hann'``.
        context (int, optional): Context margin of each tile
            (:func:`~featsel.apis.restoration.tiled_decode`). Defaults to 0.

    Raises:
        ConfigError: An expert without its adapter, routers whose experts
            differ from ``experts``, or an unknown ``global_source``.
    """

    def __init__(self,
                 dense: nn.Module,
                 experts: Mapping[str, nn.Module],
                 router: Optional[CalibratedRouter] = None,
                 local_router: Optional[CalibratedRouter] = None,
                 global_source: str = DENSE_NAME,
                 tile: int = 512,
                 overlap: int = 64,
                 blend: str = 'hann',
                 context: Optional[int] = 0) -> None:
        check_blend(blend)
        if not experts:
            raise ConfigError('MoEIRestorer needs at least one expert')
        self.dense_model = dense
        self.backbones: Dict[str, GlobalLocalRestorer] = {
            DENSE_NAME: find_restorer(dense)}
        names = list(experts)
        if router is not None:
            names = self._check_router(router, names, 'router')
        if local_router is not None:
            self._check_router(local_router, names, 'local_router')
        for name in names:
            backbone = find_restorer(experts[name])
            if name not in backbone.adapters:
                raise ConfigError(
                    f'expert "{name}" has no adapter of that task; its '
                    f'backbone has {backbone.adapter_tasks}')
            self.backbones[name] = backbone
        self.experts: Tuple[str, ...] = tuple(names)
        self.router = router
        self.local_router = local_router
        self.tile, self.overlap, self.blend = tile, overlap, blend
        self.context = context
        if global_source not in self.backbones:
            raise ConfigError(f'global_source must be "{DENSE_NAME}" or an '
                              f'expert of {list(self.experts)}, got '
                              f'"{global_source}"')
        self.global_source = global_source
        self.own_pass: Dict[str, str] = {}
        source = self.backbones[global_source]
        for name, backbone in self.backbones.items():
            reason = global_pass_difference(source, backbone)
            if reason is not None:
                self.own_pass[name] = reason
                print_log(
                    f'MoEIRestorer: "{name}" cannot reuse the global pass '
                    f'of "{global_source}": {reason}; it runs its own '
                    'encoder and bottleneck when chosen (one more global '
                    'pass)', logger='current', level=logging.WARNING)

    @staticmethod
    def _check_router(router: CalibratedRouter, names: List[str],
                      key: str) -> List[str]:
        if sorted(router.experts) != sorted(names):
            raise ConfigError(f'{key} routes to {list(router.experts)}, but '
                              f'the experts are {names}')
        return list(router.experts)

    @property
    def device(self) -> torch.device:
        return self.backbones[DENSE_NAME].head.weight.device

    # ------------------------------------------------------------------ #
    # stages
    # ------------------------------------------------------------------ #
    def encode(self, x: Tensor) -> RestorerCache:
        """The cached global pass of the global source, ``(1, 3, H, W)``."""
        return self.backbones[self.global_source].encode(x)

    def decode(self, name: str, x: Tensor, cache: RestorerCache,
               clock: Optional[_Clock] = None) -> Tuple[Tensor, int]:
        """Model ``name`` restores ``x`` from the shared cache (or from its
        own global pass if it cannot share it).

        Returns:
            tuple[Tensor, int]: ``(1, 3, H, W)`` and the global passes run
            here (0 or 1).
        """
        backbone = self.backbones[name]
        passes = 0
        if name in self.own_pass:
            cache = backbone.encode(x)
            passes = 1
            if clock is not None:
                clock.lap('encode')
        task = None if name == DENSE_NAME else name
        y = tiled_decode(backbone, cache, task, self.tile, self.overlap,
                         self.blend, self.context)
        if clock is not None:
            clock.lap('decode')
        height, width = cache.size
        return y[..., :height, :width], passes

    def run_all(self, image: ImageInput) -> Tuple[Tensor, Dict[str, Tensor]]:
        """The global vector and the output of every model (the dense one
        and each expert), from one shared global pass.

        Args:
            image (ImageInput): One image (see :func:`featsel.apis.restore`).

        Returns:
            tuple[Tensor, dict[str, Tensor]]: ``global_vec`` ``(1, D)`` and
            ``{'dense': y, expert: y, ...}``, each ``(1, 3, H, W)``.
        """
        x = self._input(image)
        with torch.no_grad():
            cache = self.encode(x)
            outputs = {name: self.decode(name, x, cache)[0]
                       for name in self.backbones}
        return cache.global_vec, outputs

    # ------------------------------------------------------------------ #
    # the call
    # ------------------------------------------------------------------ #
    def _input(self, image: ImageInput) -> Tensor:
        x, _ = _as_tensor(image)
        if x.shape[0] != 1:
            raise DataError(f'MoE-I routes one image at a time, got a batch '
                            f'of {x.shape[0]}')
        return x.to(self.device)

    def _router(self, mode: str) -> Optional[CalibratedRouter]:
        """The router a mode reads: none for ``dense``; optional (for the
        record) for ``moe_oracle`` and ``forced_misroute``."""
        router = self.local_router if mode == 'local_router' else self.router
        if router is None and mode in ('moe_actual', 'top2', 'local_router'):
            key = 'local_router' if mode == 'local_router' else 'router'
            raise ConfigError(f'mode "{mode}" needs a {key}')
        return None if mode == 'dense' else router

    def __call__(self,
                 image: ImageInput,
                 mode: str = 'moe_actual',
                 gt: Optional[ImageInput] = None,
                 expert: Optional[str] = None,
                 crop_border: int = 0) -> MoEIOutput:
        """Restore one image in ``mode`` (module docstring).

        Args:
            image (ImageInput): An image file, an ``(H, W, 3)`` RGB array or
                a float tensor ``(3, H, W)`` / ``(1, 3, H, W)`` in [0, 1].
            mode (str): One of :data:`MODES`. Defaults to ``'moe_actual'``.
            gt (ImageInput, optional): The clean image (``moe_oracle``).
            expert (str, optional): The expert of ``forced_misroute``.
            crop_border (int): Border left out of the oracle's PSNR.

        Returns:
            MoEIOutput
        """
        if mode not in MODES:
            raise ConfigError(f'mode must be one of {MODES}, got "{mode}"')
        if mode == 'moe_oracle' and gt is None:
            raise ConfigError('mode "moe_oracle" needs the clean image gt')
        if mode == 'forced_misroute' and expert not in self.experts:
            raise ConfigError(f'mode "forced_misroute" needs expert= one of '
                              f'{list(self.experts)}, got {expert!r}')
        router = self._router(mode)
        x = self._input(image)
        target = None if gt is None else self._input(gt)
        with torch.no_grad():
            return self._run(x, mode, router, target, expert, crop_border)

    def _run(self, x: Tensor, mode: str, router: Optional[CalibratedRouter],
             gt: Optional[Tensor], expert: Optional[str],
             crop_border: int) -> MoEIOutput:
        clock = _Clock(x.device)
        cache = self.encode(x)
        clock.lap('encode')
        out = MoEIOutput(image=x, mode=mode, route=DENSE_NAME,
                         route_index=DENSE,
                         megapixels=x.shape[-2] * x.shape[-1] / 1e6)
        probs = None
        if router is not None:
            logits = router.logits(cache.global_vec, x)
            probs = router.probs(logits)
            clock.lap('route')
            out.logits = logits[0].tolist()
            out.probs = probs.tolist()
        if mode == 'dense':
            chosen = [DENSE_NAME]
        elif mode == 'moe_oracle':
            chosen = list(self.experts)
        elif mode == 'top2':
            weights = top2_weights(probs[None].cpu().numpy())[0]
            chosen = [self.experts[k]
                      for k in (-weights).argsort(kind='stable')[:2]]
            out.weights = {n: float(weights[self.experts.index(n)])
                           for n in chosen}
        elif mode == 'forced_misroute':
            chosen = [expert]
        else:  # moe_actual, local_router
            out.abstained = bool(probs.max() < router.tau)
            chosen = [DENSE_NAME if out.abstained
                      else self.experts[int(probs.argmax())]]
        outputs = {}
        for name in chosen:
            outputs[name], passes = self.decode(name, x, cache, clock)
            out.encoder_passes += passes
        out.decoded = chosen
        if mode == 'moe_oracle':
            out.expert_psnr = {
                n: psnr(y.clamp(0, 1).double(), gt.double(),
                        crop_border=crop_border).item()
                for n, y in outputs.items()}
            chosen = [max(out.expert_psnr, key=out.expert_psnr.get)]
        if mode == 'top2':
            out.image = sum(out.weights[n] * outputs[n] for n in chosen)
            out.route = '+'.join(chosen)
        else:
            out.image = outputs[chosen[0]]
            out.route = chosen[0]
        out.route_index = (DENSE if chosen[0] == DENSE_NAME else
                           self.experts.index(chosen[0]))
        out.timing = clock.timing()
        return out

    # ------------------------------------------------------------------ #
    # construction from files
    # ------------------------------------------------------------------ #
    @classmethod
    def from_files(cls,
                   dense: ModelFiles,
                   experts: Mapping[str, ModelFiles],
                   router_dir: Optional[str] = None,
                   local_router_dir: Optional[str] = None,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None,
                   **kwargs) -> 'MoEIRestorer':
        """Build from configs and checkpoints.

        Args:
            dense (tuple[str, str | None]): ``(config, checkpoint)`` of the
                dense-unified model.
            experts (Mapping[str, tuple]): Expert -> ``(config,
                checkpoint)``.
            router_dir (str, optional): Calibrated global router folder
                (:func:`load_calibrated_router`); its ``global_source``
                (the source its labels were made with) is used unless
                ``global_source`` is given.
            local_router_dir (str, optional): Calibrated local router.
            device (str): Defaults to 'cpu'.
            cfg_options (dict, optional): Overrides of the restorer configs
                (dense and experts).
            **kwargs: ``global_source``, ``tile``, ``overlap``, ``blend``,
                ``context``.
        """
        from .inference import init_model

        def load(files: Sequence[Optional[str]]) -> nn.Module:
            config, checkpoint = files
            return init_model(config, checkpoint, device, cfg_options)

        routers = {}
        for key, folder in (('router', router_dir),
                            ('local_router', local_router_dir)):
            if folder is not None:
                routers[key], info = load_calibrated_router(folder, device)
                if key == 'router' and 'global_source' in info:
                    kwargs.setdefault('global_source', info['global_source'])
        return cls(load(dense), {n: load(f) for n, f in experts.items()},
                   **routers, **kwargs)
