"""Lightning callbacks of the nst project."""

from .converged import Converged
from .eval_metrics import EvalMetrics
from .feature_maps import FeatureMaps
from .image_saver import ImageSaver
from .progress import StepProgressBar
from .run_guard import RunGuard
from .timelapse import Timelapse
from .video_frames import VideoFrames
from .watch import Progress, Watch

__all__ = ["Converged", "EvalMetrics", "FeatureMaps", "ImageSaver", "Progress", "RunGuard", "StepProgressBar", "Timelapse", "VideoFrames",
           "Watch"]
