"""Hooks that keep checkpoints trustworthy: a loaded checkpoint must fit the
model, a non-finite step never reaches a checkpoint, and a checkpoint holds
the random state a resumed run needs to continue exactly."""
import fnmatch
import math
import random
import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner.checkpoint import find_latest_checkpoint

from ...registry import HOOKS
from ...utils.errors import CheckpointError, DataError
from .gate_diagnostics_hook import unwrap_model

_MODULE_PREFIX = re.compile(r'^module\.')


def _loaded_file(runner) -> str:
    """The file the runner loads: ``load_from``, or the newest checkpoint of
    the work dir when resuming without one."""
    return runner.cfg.get('load_from') or find_latest_checkpoint(
        runner.work_dir) or '<checkpoint>'


def compare_state_dicts(model_state: Dict[str, torch.Tensor],
                        ckpt_state: Dict[str, Any]) -> Dict[str, List[str]]:
    """Keys of a checkpoint that do not fit a model.

    Returns:
        dict: ``missing`` (in the model only), ``unexpected`` (in the
        checkpoint only) and ``mismatched`` (``key: checkpoint shape vs
        model shape``), each a sorted list.
    """
    ckpt_state = {_MODULE_PREFIX.sub('', k): v for k, v in ckpt_state.items()}
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs model '
        f'{tuple(model_state[k].shape)}' for k, v in sorted(ckpt_state.items())
        if k in model_state and hasattr(v, 'shape')
        and tuple(v.shape) != tuple(model_state[k].shape)
    ]
    return dict(missing=sorted(set(model_state) - set(ckpt_state)),
                unexpected=sorted(set(ckpt_state) - set(model_state)),
                mismatched=mismatched)


def describe_misfit(filename: str, diff: Dict[str, List[str]]) -> str:
    """``checkpoint "<file>" does not fit the model (missing a, unexpected
    b, shape mismatched c: <first keys of each>)`` for a
    :func:`compare_state_dicts` result."""
    examples = '; '.join(f'{kind} {", ".join(keys[:2])}'
                         for kind, keys in diff.items() if keys)
    return (f'checkpoint "{filename}" does not fit the model (missing '
            f'{len(diff["missing"])}, unexpected {len(diff["unexpected"])}, '
            f'shape mismatched {len(diff["mismatched"])}: {examples})')


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Check that a loaded checkpoint fits the model, before it is used.

    Logs one line ``N of M weights fit; missing a, unexpected b, shape
    mismatched c`` for every checkpoint loaded by ``load_from``,
    ``tools/test.py`` or ``--resume``. A checkpoint that does not fully fit
    is a :class:`CheckpointError` naming the file and the first offending
    keys, raised before the first step: always when resuming (the optimizer
    state would not fit either), and when loading weights unless
    ``strict=False`` (``--non-strict``), which loads the matching part.
    Weights that the loaded model is expected to lack (the adapters a
    fine-tuning run adds to a pretrained model) are named by
    ``allow_missing``: only those may be missing, everything else is still
    checked.

    Args:
        strict (bool): Refuse weights that do not fully fit.
            Defaults to True.
        allow_missing (Sequence[str]): ``fnmatch`` patterns of model keys
            that a loaded checkpoint may lack (they keep their
            initialisation), e.g. ``['backbone.adapters.*']``. Not applied
            when resuming. Defaults to ``()``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = True,
                 allow_missing: Sequence[str] = ()) -> None:
        if isinstance(allow_missing, str):
            allow_missing = [allow_missing]
        self.strict = strict
        self.allow_missing = tuple(allow_missing)

    def _allowed(self, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, p) for p in self.allow_missing)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        ckpt_state = checkpoint.get('state_dict', checkpoint)
        model_state = unwrap_model(runner.model).state_dict()
        diff = compare_state_dicts(model_state, ckpt_state)
        filename = _loaded_file(runner)
        fitting = len(model_state) - len(diff['missing']) - len(
            diff['mismatched'])
        print_log(
            f'"{filename}": {fitting} of {len(model_state)} model weights '
            f'fit; missing {len(diff["missing"])}, unexpected '
            f'{len(diff["unexpected"])}, shape mismatched '
            f'{len(diff["mismatched"])}', logger='current')
        resuming = bool(runner.cfg.get('resume', False))
        if not resuming and self.allow_missing:
            allowed = [k for k in diff['missing'] if self._allowed(k)]
            if allowed:
                print_log(f'"{filename}": {len(allowed)} missing weights '
                          f'are allowed ({", ".join(self.allow_missing)}) '
                          'and keep their initialisation', logger='current')
                diff['missing'] = sorted(set(diff['missing']) - set(allowed))
        if not any(diff.values()) or not (self.strict or resuming):
            return
        fix = ('resuming needs a checkpoint of this model and config'
               if resuming else 'pass --non-strict (or CheckpointCheckHook '
               'strict=False) to load the weights that fit')
        raise CheckpointError(f'{describe_misfit(filename, diff)}; {fix}')


def _non_finite(values: Dict[str, Any]) -> Dict[str, float]:
    out = {}
    for name, value in values.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.item()
        if isinstance(value, (int, float)) and not math.isfinite(value):
            out[name] = value
    return out


def _image_paths(data_batch: Any) -> List[str]:
    samples = data_batch.get('data_samples') if isinstance(
        data_batch, dict) else None
    return [str(s.metainfo.get('img_path', '?')) for s in samples or []]


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Stop training at the first non-finite loss, and never write a
    checkpoint with non-finite weights.

    After every training step, the logged losses (``loss`` and its terms)
    are checked; a NaN or inf stops training with a :class:`DataError`
    naming the iteration, the terms and the images of the batch
    (``img_path`` of the data samples). It runs before the checkpoint hook,
    so the step's checkpoint is not written and no good checkpoint is
    rotated out. Before any checkpoint is written, its weights are checked
    too (a step can corrupt them with a finite loss, e.g. through an
    infinite gradient).
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        bad = _non_finite(outputs or {})
        if not bad:
            return
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        images = ', '.join(_image_paths(data_batch)) or 'unknown'
        raise DataError(
            f'non-finite loss at iteration {runner.iter + 1} ({terms}); '
            f'images of the batch: {images}. Training stopped before saving '
            'a checkpoint; the checkpoints already written are intact')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = [k for k, v in checkpoint.get('state_dict', {}).items()
               if isinstance(v, torch.Tensor) and v.is_floating_point()
               and not torch.isfinite(v).all()]
        if bad:
            raise DataError(
                f'the model weights became non-finite at iteration '
                f'{runner.iter} ({len(bad)} tensors, e.g. {bad[0]}); the '
                'checkpoint was not written and the earlier ones are intact')


def get_random_state() -> dict:
    """The states of python's, numpy's, torch's and (if present) CUDA's
    random generators; numbers, tuples and tensors only, so they load
    weights-only."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict) -> None:
    """Restore what :func:`get_random_state` returned."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _RestoreBeforeFetch:
    """A data iterator that restores a random state before its
    ``skip + 1``-th item, i.e. after mmengine's iteration-based loop has
    replayed the ``skip`` batches a resumed run already trained on."""

    def __init__(self, iterator, skip: int, state: dict) -> None:
        self._iterator, self._skip, self._state = iterator, skip, state

    def __iter__(self):
        return self

    def __next__(self):
        if self._state is not None and self._skip == 0:
            set_random_state(self._state)
            self._state = None
        self._skip -= 1
        return next(self._iterator)

    def __getattr__(self, name: str):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random generators' states in each checkpoint and restore
    them on resume, so a resumed run continues exactly as an uninterrupted
    one.

    The state goes to ``checkpoint['meta']['random_state']`` (python,
    numpy, torch, CUDA). On ``--resume`` it is restored where the
    uninterrupted run stood: before the first resumed epoch's data loader
    starts (epoch-based loops), or after mmengine's iteration-based loop
    has replayed the data already trained on. Validation leaves the
    generators as it found them, so the state saved at a step does not
    depend on when validation runs.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._resumed: Optional[dict] = None
        self._before_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # a checkpoint saved during validation (the best one) records the
        # state the training continues from
        checkpoint.setdefault('meta', {})['random_state'] = (
            self._before_val or get_random_state())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner.cfg.get('resume', False):
            self._resumed = checkpoint.get('meta', {}).get('random_state')

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if self._resumed is not None and hasattr(loop, 'dataloader_iterator'):
            loop.dataloader_iterator = _RestoreBeforeFetch(
                loop.dataloader_iterator, runner.iter, self._resumed)
            self._resumed = None

    def before_train_epoch(self, runner) -> None:
        if self._resumed is not None:
            set_random_state(self._resumed)
            self._resumed = None

    def before_val(self, runner) -> None:
        self._before_val = get_random_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_random_state(self._before_val)
            self._before_val = None

