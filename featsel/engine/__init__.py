from .compat import apply_compat_fixes, init_cpu_distributed
from .hooks import *  # noqa: F401,F403

__all__ = ['apply_compat_fixes', 'init_cpu_distributed']
