"""featsel registry nodes.

Two tiers live here:

* **Task-level nodes** (``MODELS``, ``DATASETS``, ``TRANSFORMS``,
  ``METRICS``, ``HOOKS``, ``VISUALIZERS`` and the rest of mmengine's 23
  roots) are children of the mmengine roots with the explicit scope
  ``'featsel'``, the same shape as ``mmdet/registry.py``. Configs with
  ``default_scope = 'featsel'`` resolve featsel's whole models, datasets,
  transforms, metrics and hooks unprefixed and reach mmdet/mmseg parts with
  a prefix (``'mmseg.FCNHead'``, ``'mmdet.L1Loss'``).
* **Plug-in kinds** (``SELECTORS``, ``EXPERTS``, ``GATINGS``, ``ROUTERS``,
  ``PRUNERS``, ``LAYERS``) and the losses and regularisers plug-ins nest
  (``LOSSES``) are aliases of mmengine's root ``MODELS``, as mmcv registers
  its bricks. Only the root is visible unprefixed from every scope, so
  ``type='IdentitySelector'`` builds under the ``featsel``, ``mmseg`` and
  ``mmdet`` default scopes alike, nested plug-ins and losses included. A
  child registry cannot do this (same scope: import-time assertion; own
  scope: nested builds miss). The kinds stay meaningful through the base
  classes in ``featsel.models.base`` and the typed builders in
  ``featsel.models.builder``.

Library code registers and builds plug-ins and their losses through these
aliases only (never ``mmengine.registry.MODELS`` by another name); featsel's
own ``MODELS`` holds the parts of featsel-native whole models (the
multi-task segmentor, its encoder and decoders), which build under the
``featsel`` scope or with the ``featsel.`` prefix.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

_SCOPE = 'featsel'

# --- runner and engine ------------------------------------------------------
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope=_SCOPE)
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, scope=_SCOPE)
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope=_SCOPE)
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope=_SCOPE,
    locations=['featsel.engine.hooks'])
STRATEGIES = Registry('strategy', parent=MMENGINE_STRATEGIES, scope=_SCOPE)

# --- data -------------------------------------------------------------------
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope=_SCOPE,
    locations=['featsel.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope=_SCOPE,
    locations=['featsel.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope=_SCOPE,
    locations=['featsel.datasets.transforms'])

# --- models -----------------------------------------------------------------
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope=_SCOPE,
    locations=['featsel.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope=_SCOPE)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, scope=_SCOPE)

# --- optimisation -----------------------------------------------------------
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope=_SCOPE)
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope=_SCOPE)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope=_SCOPE)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope=_SCOPE)

# --- evaluation and visualisation -------------------------------------------
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, scope=_SCOPE,
    locations=['featsel.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, scope=_SCOPE)
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, scope=_SCOPE)
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, scope=_SCOPE,
    locations=['featsel.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, scope=_SCOPE)
LOG_PROCESSORS = Registry(
    'log_processor', parent=MMENGINE_LOG_PROCESSORS, scope=_SCOPE)
INFERENCERS = Registry('inferencer', parent=MMENGINE_INFERENCERS, scope=_SCOPE)
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, scope=_SCOPE)

# --- plug-in kinds: aliases of mmengine's root MODELS (see the docstring) --
SELECTORS = MMENGINE_MODELS
EXPERTS = MMENGINE_MODELS
GATINGS = MMENGINE_MODELS
ROUTERS = MMENGINE_MODELS
PRUNERS = MMENGINE_MODELS
LAYERS = MMENGINE_MODELS
LOSSES = MMENGINE_MODELS
