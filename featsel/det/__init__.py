"""Detection side of featsel (SPEC S4), for configs run in mmdet's scope.

``custom_imports = dict(imports=['featsel.det'])`` registers the RT-DETR
detector, its neck and loss into mmdet's registries, the demo data set, and
featsel's plug-ins and hooks into mmengine's root registries, so an
``default_scope='mmdet'`` config names all of them without prefixes.
"""
import featsel.datasets  # noqa: F401
import featsel.engine.hooks  # noqa: F401
import featsel.models  # noqa: F401
import featsel.models.detectors  # noqa: F401
