"""featsel: feature-selection, token-sparsity and mixture-of-experts plug-ins
for OpenMMLab vision models."""
from .engine.compat import apply_torch_compat
from .version import __version__

apply_torch_compat()

__all__ = ['__version__']
