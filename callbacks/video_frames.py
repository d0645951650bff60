"""Makes a video pair's frames one after the other inside one fit (``nst.model.temporal``): at each
frame's last step it writes the frame, logs it, and sets up the next one in place."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info

from nst.media.color import luminance_image
from nst.config_types import PositiveInt
from nst.errors import NSTError
from nst.media.flow import FlowPreset, Motion, flicker
from nst.media.images import load_image, save_image
from nst.runs.outputs import config_metadata, pair_dir, run_dir
from nst.model.temporal import FrameSchedule, set_frame
from nst.media.video import write_video


class VideoFrames(Callback):
    """For runs whose content is a video: ``frames/frame_XXXXX.png`` per frame, TensorBoard
    scalars per frame (``video/content``, ``video/style``, ``video/temporal``, ``video/flicker``,
    ``video/seconds``, ``video/flow_seconds``; x axis: the frame), a frame image every
    ``images_every_n_frames``, a checkpoint after each frame, and ``final.mp4`` at the end
    (``interrupted.mp4`` of the finished frames if the run stops).

    Args:
        images_every_n_frames: a frame image in TensorBoard every this many frames.
        flow: the DIS optical-flow preset: ``ultrafast``, ``fast`` or ``medium`` (the most accurate).
    """

    def __init__(self, images_every_n_frames: PositiveInt = 10, flow: FlowPreset = "medium"):
        self.images_every_n_frames = images_every_n_frames
        self.flow = flow
        self.schedule: FrameSchedule | None = None
        self.motion: dict[str, Motion | None] = {}  # pair name -> from its last frame to the current
        self.previous: dict[str, torch.Tensor] = {}  # pair name -> its last finished frame

    def video_pairs(self, pl_module: LightningModule):
        """(pair, image parameter, row) of each video pair of this device."""
        return [(pair, image, row) for image, batch in zip(pl_module.images, pl_module.batches)
                for row, pair in enumerate(batch) if pair.clip is not None]

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not pl_module.makes_video:
            return
        run_dir(trainer)
        h = pl_module.hparams
        mine = torch.tensor(max(len(pair.clip) for pair in pl_module.pairs), device=pl_module.device)
        frames = int(trainer.strategy.reduce(mine.float(), reduce_op="max"))  # every device steps alike
        self.schedule = FrameSchedule(h.steps_first_frame, h.steps_per_frame, frames)
        trainer.fit_loop.epoch_loop.max_steps = self.schedule.total_steps
        rank_zero_info(f"nst: video of {frames} frames: {h.steps_first_frame} steps for the first, "
                       f"{h.steps_per_frame} for each other = {self.schedule.total_steps} steps "
                       "(trainer.max_steps is not used)")
        self.seconds = {"frame": 0.0, "flow": 0.0}
        self.started = time.perf_counter()

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """After a resume: set up the frame the checkpoint was in (its image is the checkpoint's)."""
        if self.schedule is None or trainer.global_step == 0:
            return
        pl_module.enter_stage(trainer.global_step)  # the objectives, which the frame's set-up changes
        index = self.schedule.frame_at(trainer.global_step)
        for pair, _, _ in self.video_pairs(pl_module):
            if 0 < index < len(pair.clip):
                finished = load_image(pair_dir(trainer, pair) / "frames" / f"frame_{index - 1:05d}.png", "frame")
                self.previous[pair.name] = finished
                self.prepare(pl_module, pair, index, luminance_image(finished) if pair.keep_chroma else finished)
        rank_zero_info(f"nst: resuming the video at frame {index} (step {trainer.global_step})")

    def prepare(self, pl_module: LightningModule, pair, index: int, previous: torch.Tensor | None) -> torch.Tensor:
        """Set up frame ``index`` of ``pair``; returns its start image."""
        motion = None
        if index > 0:
            began = time.perf_counter()
            motion = Motion.between(pair.clip.frame(index - 1), pair.clip.frame(index), self.flow)
            self.seconds["flow"] += time.perf_counter() - began
        self.motion[pair.name] = motion
        h = pl_module.hparams
        return set_frame(pair, index, pl_module.definition, previous, motion, h.temporal_weight, h.video_init)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        done = self.schedule.finished_at(trainer.global_step) if self.schedule else None
        if done is None:
            return
        for pair, image, row in self.video_pairs(pl_module):
            if done >= len(pair.clip):
                continue  # a shorter clip of a batch: finished already
            raw = image[row: row + 1].detach().float().clamp(0, 1)
            self.finish_frame(trainer, pl_module, pair, done, raw)
            if done + 1 < len(pair.clip):
                with torch.no_grad():
                    image[row: row + 1].copy_(self.prepare(pl_module, pair, done + 1, raw))
        if done + 1 < self.schedule.frames:
            if pl_module.hparams.video_init == "content":
                trainer.optimizers[0].state.clear()  # independent frames: a fresh optimiser each
            # else Adam's moments carry on: they describe the image the frame starts from, and a
            # fresh Adam moves every pixel by about lr in its first steps (measured: twice the
            # flicker; docs/guide/video.md)
            self.save_checkpoint(trainer)

    def finish_frame(self, trainer: Trainer, pl_module: LightningModule, pair, index: int, raw: torch.Tensor) -> None:
        """Write frame ``index`` and log its losses and flicker."""
        folder = pair_dir(trainer, pair)
        finished = pair.finish(raw)
        save_image(finished, folder / "frames" / f"frame_{index:05d}.png", config_metadata(trainer))
        with torch.no_grad():
            values = {k: float(v) for k, v in pair.objective(raw).items()}
        previous, motion = self.previous.get(pair.name), self.motion.get(pair.name)
        if previous is not None and motion is not None:
            values["flicker"] = flicker(previous, finished, motion)
        self.previous[pair.name] = finished
        now = time.perf_counter()
        values["seconds"], self.started = now - self.started, now
        values["flow_seconds"], self.seconds["flow"] = self.seconds["flow"], 0.0
        self.log_frame(trainer, pair, index, values, finished)

    def log_frame(self, trainer: Trainer, pair, index: int, values: dict, image: torch.Tensor) -> None:
        writer = next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if writer is None or trainer.global_rank != 0:
            return
        suffix = f"/{pair.folder}" if pair.folder else ""
        for key, value in values.items():
            writer.add_scalar(f"video/{key}{suffix}", value, index)
        if index % self.images_every_n_frames == 0 or index == len(pair.clip) - 1:
            writer.add_image(f"video/frame{suffix}", image[0].cpu(), index)
        writer.flush()

    @staticmethod
    def save_checkpoint(trainer: Trainer) -> None:
        """``checkpoints/last.ckpt`` after each frame: a resume loses at most a frame's steps."""
        checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
        if checkpoint is not None and checkpoint.save_last:
            # through the callback's own bookkeeping (it would otherwise keep its last.ckpt as
            # last-v1.ckpt beside a file it did not write); Lightning has no public call for it
            checkpoint._save_last_checkpoint(trainer, checkpoint._monitor_candidates(trainer))

    def write_video(self, trainer: Trainer, pl_module: LightningModule, name: str) -> list[Path]:
        """``name`` (an MP4) of every video pair, from the frames written so far."""
        paths = []
        for pair, _, _ in self.video_pairs(pl_module):
            folder = pair_dir(trainer, pair)
            frames = [load_image(p, "frame") for p in sorted((folder / "frames").glob("frame_*.png"))]
            if frames:
                uint8 = [f.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8) for f in frames]
                paths.append(write_video(uint8, folder / name, pair.clip.fps))
        return paths

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.schedule is not None:
            for path in self.write_video(trainer, pl_module, "final.mp4"):
                print(f"nst: video written to {path}")

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if self.schedule is None or not len(getattr(pl_module, "images", ())):
            return
        try:
            for path in self.write_video(trainer, pl_module, "interrupted.mp4"):
                print(f"nst: run stopped; the finished frames are in {path.parent / 'frames'} and {path}")
        except (NSTError, OSError) as e:  # never hide the original error behind this one
            print(f"nst: could not write the partial video: {e}", file=sys.stderr)
