"""Lightning callbacks of the nst project."""

from callbacks.eval_metrics import EvalMetrics
from callbacks.feature_maps import FeatureMaps
from callbacks.image_saver import ImageSaver

__all__ = ["EvalMetrics", "FeatureMaps", "ImageSaver"]
