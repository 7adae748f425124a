from .errors import ConfigError, DataError
from .io import dump_json_atomic, write_bytes_atomic
from .setup_env import register_all_modules

__all__ = [
    'ConfigError', 'DataError', 'dump_json_atomic', 'register_all_modules',
    'write_bytes_atomic'
]
