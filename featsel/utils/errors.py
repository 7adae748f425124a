"""Errors raised for bad user input, so tools can report them in one line."""


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and the fix."""


class DataError(ValueError):
    """A data file is wrong; the message names the file."""


class CheckpointError(DataError):
    """A checkpoint cannot be used: unreadable, untrusted, or not fitting
    the model; the message names the file and, where there is one, the
    option that allows it."""
