"""featsel: feature-selection, token-sparsity and mixture-of-experts plug-ins
for OpenMMLab vision models."""
from .engine.compat import apply_compat_fixes
from .version import __version__

apply_compat_fixes()

__all__ = ['__version__']
