"""Saves the generated image every N steps and at the end, in the chosen format (8-bit PNG by
default; 16-bit PNG or TIFF, JPEG, WebP) and to TensorBoard."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger

from nst.config_types import PositiveInt, Quality
from nst.errors import NSTError
from nst.media.formats import SUFFIXES, OutputFormat
from nst.media.images import save_image
from nst.runs.outputs import config_metadata, pair_dir, run_dir


class ImageSaver(Callback):
    """Write ``step_XXXXX.png`` at the start and every ``every_n_steps`` steps, and ``final.png``
    at the end, into the run's folder (the logger's ``log_dir``), and the same images to
    TensorBoard. If the run stops with an error or Ctrl-C, the image is kept as ``interrupted.png``.

    Args:
        format: ``png`` (8-bit), ``png16``, ``tiff16`` (16-bit, from the float image: no banding
            in skies), ``jpeg`` or ``webp``; the suffix follows (``final.tif``, ``final.jpg``).
        quality: JPEG/WebP quality (1-100).
    """

    def __init__(self, every_n_steps: PositiveInt = 100, tensorboard: bool = True, format: OutputFormat = "png",
                 quality: Quality = 95):
        self.every_n_steps = every_n_steps
        self.tensorboard = tensorboard
        self.format = format
        self.quality = quality
        self.finals: list[Path] = []

    def name(self, stem: str) -> str:
        """``stem`` with the format's suffix (``final`` -> ``final.tif``)."""
        return f"{stem}{SUFFIXES[self.format]}"

    def _tensorboard(self, trainer: Trainer):
        if not self.tensorboard or trainer.global_rank != 0:
            return None
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None

    def save(self, trainer: Trainer, pl_module: LightningModule, name: str, tag: str) -> list[Path]:
        """Every pair of this device: ``<run dir>[/<pair>]/<name>.<suffix>``; returns the paths."""
        paths, metadata = [], config_metadata(trainer)
        writer = self._tensorboard(trainer)  # rank 0 only; a no-op elsewhere
        for pair, image in pl_module.output_images():
            if not torch.isfinite(image).all():
                continue  # NaN/Inf: RunGuard keeps the last finite image as last_good.png
            path = save_image(image, pair_dir(trainer, pair) / self.name(name), metadata, pair.alpha, self.format,
                              self.quality)
            paths.append(path)
            if writer is not None:
                label = f"{tag}/{pair.folder}" if pair.folder else tag
                writer.add_image(label, image[0].float().cpu(), trainer.global_step)
        if writer is not None:
            writer.flush()
        return paths

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        run_dir(trainer)  # on every device at once (see nst.runs.outputs)
        writer = self._tensorboard(trainer)
        if writer is None:
            return
        for pair in pl_module.pairs:
            suffix = f"/{pair.folder}" if pair.folder else ""
            writer.add_image(f"input/content{suffix}", pair.content[0], 0)
            for i, style in enumerate(pair.styles):
                label = "input/style" if len(pair.styles) == 1 else f"input/style_{i}"
                writer.add_image(f"{label}{suffix}", style[0], 0)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.started = True
        step = trainer.global_step
        self.save(trainer, pl_module, f"step_{step:05d}", "generated")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0:
            self.save(trainer, pl_module, f"step_{step:05d}", "generated")

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.finals = self.save(trainer, pl_module, "final", "final")  # the run's last line names them

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception) -> None:
        if getattr(self, "started", False) and len(getattr(pl_module, "images", ())):  # a run that ran
            try:
                paths = self.save(trainer, pl_module, "interrupted", "interrupted")
            except NSTError as e:  # e.g. the disk is full: never hide the original error
                print(f"nst: could not keep the image: {e}", file=sys.stderr)
                return
            if paths:
                print(f"nst: run stopped ({type(exception).__name__}); image kept at {paths[0]}")
