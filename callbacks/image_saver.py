"""Saves the generated image every N steps and at the end, as PNG and to TensorBoard."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from nst.images import save_image


class ImageSaver(Callback):
    """Write ``step_XXXXX.png`` at the start and every ``every_n_steps`` steps, and ``final.png``
    at the end, into the run's folder (the logger's ``log_dir``), and the same images to
    TensorBoard. If the run stops with an error or Ctrl-C, the image is kept as ``interrupted.png``.
    """

    def __init__(self, every_n_steps: int = 100, tensorboard: bool = True):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.tensorboard = tensorboard

    @staticmethod
    def run_dir(trainer: Trainer) -> Path:
        return Path(trainer.log_dir or trainer.default_root_dir)

    def _tensorboard(self, trainer: Trainer):
        if not self.tensorboard:
            return None
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None

    @rank_zero_only
    def save(self, trainer: Trainer, pl_module: LightningModule, name: str, tag: str) -> Path | None:
        image = pl_module.output_image()
        if not torch.isfinite(image).all():
            return None  # NaN/Inf: RunGuard keeps the last finite image as last_good.png
        path = save_image(image, self.run_dir(trainer) / name, pl_module.config_metadata())
        writer = self._tensorboard(trainer)
        if writer is not None:
            writer.add_image(tag, image[0].float().cpu(), trainer.global_step)
            writer.flush()
        return path

    @rank_zero_only
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        writer = self._tensorboard(trainer)
        if writer is not None and pl_module.pair is not None:
            content, styles = pl_module.pair
            writer.add_image("input/content", content[0], 0)
            for i, style in enumerate(styles):
                writer.add_image("input/style" if len(styles) == 1 else f"input/style_{i}", style[0], 0)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        step = trainer.global_step
        self.save(trainer, pl_module, f"step_{step:05d}.png", "generated")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0:
            self.save(trainer, pl_module, f"step_{step:05d}.png", "generated")

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.save(trainer, pl_module, "final.png", "final")

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception) -> None:
        if getattr(pl_module, "image", None) is not None:
            path = self.save(trainer, pl_module, "interrupted.png", "interrupted")
            if path is not None:
                print(f"nst: run stopped ({type(exception).__name__}); image kept at {path}")
