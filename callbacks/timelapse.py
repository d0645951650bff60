"""A time-lapse of the picture forming: ``timelapse.mp4`` (and ``timelapse.gif`` on request)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from lightning.pytorch import Callback, LightningModule, Trainer
from PIL import Image, ImageDraw, ImageFont

from nst.config_types import Pixels, PositiveInt
from nst.media.images import resize, to_uint8
from nst.media.video import VideoWriter, write_gif
from nst.runs.outputs import pair_dir


class Timelapse(Callback):
    """Every ``every_n_steps`` steps (and at the start and the end) each pair's image, as a user
    sees it, becomes a frame of ``timelapse.mp4`` in its folder, with the step number in the
    bottom-left corner. Frames are encoded as they come (PyAV, H.264), so a long run holds no clip
    in memory. Coarse-to-fine stages are upscaled to the final size. Off by default.

    Args:
        enabled: make the time-lapse.
        every_n_steps: a frame every so many steps.
        fps: frames per second of the clip.
        gif: also ``timelapse.gif`` (made from the MP4 at ``gif_size`` px on the long side).
        gif_size: long side of the GIF.
    """

    def __init__(self, enabled: bool = False, every_n_steps: PositiveInt = 5, fps: PositiveInt = 10,
                 gif: bool = False, gif_size: Pixels = 480):
        self.enabled, self.every_n_steps, self.fps = enabled, every_n_steps, fps
        self.gif, self.gif_size = gif, gif_size
        self.writers: dict[int, VideoWriter] = {}

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.enabled or pl_module.makes_video:  # a video's frames are a clip already
            return
        for pair in pl_module.pairs:
            size = tuple(pair.content.shape[-2:])
            self.writers[pair.index] = VideoWriter(pair_dir(trainer, pair) / "timelapse.mp4", Fraction(self.fps), size,
                                                   "the step images are kept")
        self.add_frames(pl_module, trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.writers and trainer.global_step % self.every_n_steps == 0:
            self.add_frames(pl_module, trainer.global_step)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.writers:
            return
        if trainer.global_step % self.every_n_steps:
            self.add_frames(pl_module, trainer.global_step)  # the final picture closes the clip
        for path in self.close():
            if self.gif:
                write_gif(path, path.with_suffix(".gif"), self.gif_size, self.fps)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        try:
            self.close()  # the frames made so far stay a playable clip
        except Exception:  # never hide the original error behind this one
            pass

    def close(self) -> list[Path]:
        paths = [writer.close() for writer in self.writers.values()]
        self.writers = {}
        return paths

    def add_frames(self, pl_module: LightningModule, step: int) -> None:
        for pair, image in pl_module.output_images():
            writer = self.writers[pair.index]
            size = tuple(pair.content.shape[-2:])
            frame = to_uint8(resize(image.cpu(), size)).permute(1, 2, 0).numpy()
            writer.add(labelled(frame, f"step {step}"))


def labelled(frame: np.ndarray, text: str) -> np.ndarray:
    """``frame`` (HxWx3 uint8) with ``text`` in white on a dark box in the bottom-left corner."""
    picture = Image.fromarray(frame)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(10, min(picture.size) // 16))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = max(2, (bottom - top) // 4)
    x, y = margin, picture.height - (bottom - top) - 3 * margin
    draw.rectangle((x - margin, y - margin + top, x + right + margin, y + bottom + margin), fill=(0, 0, 0))
    draw.text((x, y), text, fill=(255, 255, 255), font=font)
    return np.asarray(picture)
