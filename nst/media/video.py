"""Video in and out with PyAV (its wheel ships FFmpeg, so nothing else to install): a clip
becomes a :class:`Clip` of frames at the run's size, and stylised frames become an H.264 MP4
at the source's frame rate. Every problem is one line naming it and the fix."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from nst.errors import ImageError, write_failure
from nst.media.images import scaled_size

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
MAX_CLIP_BYTES = 4 << 30  # decoded frames at the run's size, uint8: above any preview, below a crash
FRAMES_FPS = Fraction(25)  # a folder of frames has no rate of its own


def is_video_file(path) -> bool:
    return Path(str(path)).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class ClipOptions:
    """Which frames of a clip a run takes (the data module's ``frame_stride``, ``max_frames``,
    ``start_time``, ``end_time``)."""

    frame_stride: int = 1
    max_frames: Optional[int] = None
    start_time: float = 0.0
    end_time: Optional[float] = None


@dataclass(eq=False)
class Clip:
    """The content frames of a video pair: ``frames`` N x 3 x H x W uint8 at the run's size
    (uint8: a quarter of float's memory), their rate (the source's, over ``frame_stride``)."""

    frames: torch.Tensor
    fps: Fraction
    source: str

    def __len__(self) -> int:
        return self.frames.shape[0]

    def frame(self, index: int) -> torch.Tensor:
        """Frame ``index`` as 1x3xHxW float in [0, 1]."""
        return self.frames[index: index + 1].float().div_(255)


def to_frame_uint8(image: torch.Tensor) -> torch.Tensor:
    return image.detach().float().mul(255).add_(0.5).clamp_(0, 255).to("cpu", torch.uint8)


def video_size(path: str) -> tuple[int, int] | None:
    """(h, w) of a video's frames from its header; ``None`` where it cannot be read."""
    import av

    try:
        with av.open(path) as container:
            context = container.streams.video[0].codec_context
            return context.height, context.width
    except (av.FFmpegError, IndexError, OSError):
        return None


def read_clip(path: str, resize_frame, options: ClipOptions, max_pixels: int) -> Clip:
    """Decode the frames of ``path`` that ``options`` select, each made 1x3xHxW float by
    ``resize_frame`` (the run's resize) and kept as uint8."""
    import av

    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise ImageError(f"content video {path} does not exist. Fix: check the path in the config")
    fix = "Fix: re-encode it (e.g. to H.264 MP4) or give a folder of frames with data.frames_folder: true"
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise ImageError(f"cannot read content video {path} ({type(e).__name__}: {str(e)[:120]}). {fix}") from None
    with container:
        if not container.streams.video:
            raise ImageError(f"content video {path} has no video stream. {fix}")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > max_pixels:
            raise ImageError(f"content video {path} is {width}x{height}, over the limit of {max_pixels / 1e6:.0f} MP "
                             "per frame. Fix: downscale it, or raise data.max_input_pixels if you trust it")
        rate = stream.average_rate or stream.guessed_rate or FRAMES_FPS
        frames = []
        try:
            for index, frame in enumerate(selected(container.decode(stream), options)):
                frames.append(to_frame_uint8(resize_frame(rgb_tensor(frame.to_ndarray(format="rgb24")))))
                check_budget(frames, path)
        except av.FFmpegError as e:
            if not frames:
                raise ImageError(f"cannot decode content video {path} ({str(e)[:120]}). {fix}") from None
            print(f"nst: {path}: decoding stopped after {len(frames)} frames ({str(e)[:80]}); using those")
    if not frames:
        raise ImageError(f"content video {path} has no frames in the chosen range (start_time "
                         f"{options.start_time}, end_time {options.end_time}). Fix: check the file and the times")
    return Clip(torch.cat(frames), Fraction(rate) / options.frame_stride, path)


def selected(frames, options: ClipOptions):
    """The frames in [start_time, end_time), every ``frame_stride``-th, at most ``max_frames``."""
    kept = seen = 0
    for frame in frames:
        time = frame.time if frame.time is not None else 0.0
        if time < options.start_time - 1e-6:
            continue
        if options.end_time is not None and time >= options.end_time - 1e-6:
            return
        if seen % options.frame_stride == 0:
            yield frame
            kept += 1
            if options.max_frames is not None and kept >= options.max_frames:
                return
        seen += 1


def check_budget(frames: list[torch.Tensor], path: str) -> None:
    size = sum(f.numel() for f in frames)
    if size > MAX_CLIP_BYTES:
        raise ImageError(f"content video {path} is too long for memory at this size (over {len(frames)} frames, "
                         f"{size >> 20} MiB decoded). Fix: data.max_frames, data.frame_stride or data.end_time")


def rgb_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0).float().div_(255)


def read_frames_folder(paths: list[str], load) -> Clip:
    """A folder of frames (sorted by name) as a clip at ``FRAMES_FPS``; ``load`` loads one."""
    return Clip(torch.cat([to_frame_uint8(load(p)) for p in paths]), FRAMES_FPS, os.path.dirname(paths[0]))


def write_video(frames: list[torch.Tensor], path: Path, fps: Fraction) -> Path:
    """Encode 3xHxW (or 1x3xHxW) uint8 frames as H.264 MP4 (see :class:`VideoWriter`)."""
    first = frames[0].reshape(-1, *frames[0].shape[-2:])
    writer = VideoWriter(path, fps, tuple(first.shape[-2:]), "the frames are kept as PNG")
    for frame in frames:
        writer.add(frame.reshape(3, *frame.shape[-2:]).permute(1, 2, 0).numpy())
    return writer.close()


class VideoWriter:
    """H.264 MP4 (yuv420p, playable everywhere; an odd side is padded by one pixel, which yuv420p
    needs), encoded frame by frame as they come (no clip held in memory) into a temp file that
    :meth:`close` renames. A failed write raises ``OutputError`` saying what is ``kept``."""

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int], kept: str = "the images are kept"):
        import av

        self.path, self.kept, self.frames = Path(path), kept, 0
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        with self.failing():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.container = av.open(str(self.tmp), "w", format="mp4")
            self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(100000))
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": "18"}
            self.stream.height, self.stream.width = size[0] + size[0] % 2, size[1] + size[1] % 2

    def add(self, array: np.ndarray) -> None:
        """One HxWx3 uint8 RGB frame."""
        import av

        with self.failing():
            self.container.mux(self.stream.encode(av.VideoFrame.from_ndarray(even_sided(array), format="rgb24")))
            self.frames += 1

    def close(self) -> Path:
        with self.failing():
            self.container.mux(self.stream.encode())
            self.container.close()
            os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Stop without a clip: the temporary file goes (a failure that is not the disk's)."""
        with contextlib.suppress(Exception):
            self.container.close()
        self.tmp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def failing(self):
        try:
            yield
        except OSError as e:
            self.tmp.unlink(missing_ok=True)
            raise write_failure(e, self.path, self.kept) from None


def join_videos(paths: list[Path], path: Path, size: tuple[int, int], fps: Fraction) -> Path:
    """The clips one after another, every frame scaled to ``size`` (h, w) by FFmpeg's scaler: a
    coarse-to-fine chain's time-lapses as one, at the final size."""
    import av

    writer = VideoWriter(path, fps, size, "the stages' clips are kept")
    for clip in paths:
        with av.open(str(clip)) as container:
            for frame in container.decode(video=0):
                writer.add(frame.to_ndarray(format="rgb24", width=size[1], height=size[0]))
    return writer.close()


def write_gif(video: Path, path: Path, long_side: int, fps: int) -> Path:
    """``video`` decoded back with PyAV, shrunk to ``long_side`` and written as a looping GIF
    (Pillow: an adaptive palette per frame)."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        height, width = scaled_size(stream.height, stream.width, min(long_side, max(stream.height, stream.width)))
        frames = [Image.fromarray(frame.to_ndarray(format="rgb24", width=width, height=height))
                  for frame in container.decode(stream)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    return path


def even_sided(array: np.ndarray) -> np.ndarray:
    h, w = array.shape[:2]
    return np.ascontiguousarray(np.pad(array, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))
