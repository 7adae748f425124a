from .cli import add_runner_args, build_runner, load_config, run_cli

__all__ = ['add_runner_args', 'build_runner', 'load_config', 'run_cli']
