from .compat import apply_torch_compat, init_cpu_distributed
from .hooks import *  # noqa: F401,F403

__all__ = ['apply_torch_compat', 'init_cpu_distributed']
