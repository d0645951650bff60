"""The project's own error type: a one-line message that names the problem and the fix."""


class NSTError(Exception):
    """Base class: ``train.py`` prints ``str(error)`` as one line and exits with status 2."""


class ConfigError(NSTError, ValueError):
    """A configuration value is invalid (unknown name, negative weight, ...)."""


class ImageError(NSTError):
    """An input image is missing, unreadable or unusable."""


class OutputError(NSTError):
    """An output cannot be written (disk full, no permission)."""


class WeightsError(NSTError):
    """The VGG19 weights cannot be found, downloaded or loaded."""
