"""Lightning callbacks of the nst project."""

from callbacks.converged import Converged
from callbacks.eval_metrics import EvalMetrics
from callbacks.feature_maps import FeatureMaps
from callbacks.image_saver import ImageSaver
from callbacks.run_guard import RunGuard
from callbacks.video_frames import VideoFrames

__all__ = ["Converged", "EvalMetrics", "FeatureMaps", "ImageSaver", "RunGuard", "VideoFrames"]
