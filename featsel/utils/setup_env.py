"""Register every featsel module and set the default scope."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every featsel module so that its classes are registered.

    Args:
        init_default_scope (bool): Whether to make ``'featsel'`` the default
            scope (:class:`mmengine.DefaultScope`). Defaults to True.
    """
    import featsel.datasets  # noqa: F401
    import featsel.engine  # noqa: F401
    import featsel.evaluation  # noqa: F401
    import featsel.models  # noqa: F401
    import featsel.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('featsel', scope_name='featsel')
    elif current.scope_name != 'featsel':
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      'not "featsel"; `register_all_modules` makes a new '
                      'default scope named "featsel-<timestamp>".',
                      stacklevel=2)
        name = f'featsel-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='featsel')
