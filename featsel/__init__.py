"""featsel: feature-selection, token-sparsity and mixture-of-experts plug-ins
for OpenMMLab vision models.

Importing the package is light: no models, hooks, cv2 or mmcv ops. The
registries of :mod:`featsel.registry` import their modules on demand
(``locations=``), and :mod:`featsel.engine` installs the checkpoint and
file-backend fixes when the runner glue is first imported (the hooks, the
command-line tools).
"""
from .version import __version__

__all__ = ['__version__']
