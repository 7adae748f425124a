from .compat import apply_compat_fixes, init_cpu_distributed
from .hooks import *  # noqa: F401,F403

# Every path to a runner goes through here: the tools import
# featsel.utils.cli, and configs reach featsel's hooks through the HOOKS
# registry or custom_imports.
apply_compat_fixes()

__all__ = ['apply_compat_fixes', 'init_cpu_distributed']
