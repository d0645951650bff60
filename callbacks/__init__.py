"""Lightning callbacks of the nst project."""

from callbacks.image_saver import ImageSaver

__all__ = ["ImageSaver"]
