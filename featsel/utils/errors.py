"""Errors raised for bad user input (configs, data)."""


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and the fix."""
