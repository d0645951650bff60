"""Makes sure a run never loses its work: NaN/Inf detection and a checkpoint on interruption."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Literal

import torch
from jsonargparse.typing import NonNegativeInt
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

from nst.config_types import PositiveInt
from nst.errors import NSTError, is_out_of_memory
from nst.media.images import resize, save_image
from nst.runs.outputs import config_metadata, pair_dir, run_dir

OnNaN = Literal["stop", "restore_and_halve_lr"]


class NonFiniteLossError(NSTError):
    """The loss or the image became NaN or infinite."""


class RunGuard(Callback):
    """Every ``check_every_n_steps`` steps, check that the loss and the image are finite and keep
    a copy of the image (one host sync per check, not per step). On NaN/Inf: save the last finite
    image as ``last_good.png`` and stop with a message naming the knob to lower, or, with
    ``on_nan: restore_and_halve_lr``, go back to that image with half the learning rate (at most
    ``max_restores`` times). On Ctrl-C, SIGTERM or any error: write ``checkpoints/last.ckpt``
    and say how to resume.
    """

    def __init__(self, check_every_n_steps: PositiveInt = 10, on_nan: OnNaN = "stop",
                 max_restores: NonNegativeInt = 4):
        self.check_every_n_steps = check_every_n_steps
        self.on_nan = on_nan
        self.max_restores = max_restores
        self.restores = 0
        self.good: torch.Tensor | None = None
        self.good_step = 0

    @staticmethod
    def snapshot(pl_module: LightningModule) -> list[torch.Tensor]:
        return [image.detach().clone() for image in pl_module.images]

    @staticmethod
    def finite(pl_module: LightningModule) -> torch.Tensor:
        return torch.stack([torch.isfinite(image).all() for image in pl_module.images]).all()

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.good, self.good_step = self.snapshot(pl_module), trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.check_every_n_steps:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        finite = self.finite(pl_module)
        if loss is not None:
            finite = finite & torch.isfinite(loss.detach())
        # the one host sync of the check; under DDP every device takes the same decision, so a
        # NaN on one stops (or restores) all of them instead of leaving the others waiting
        if trainer.strategy.reduce_boolean_decision(bool(finite), all=True):
            self.good, self.good_step = self.snapshot(pl_module), step
            return
        path = self._save_last_good(trainer, pl_module)
        optimizer = trainer.optimizers[0]
        lr = optimizer.param_groups[0]["lr"]
        if self.on_nan == "restore_and_halve_lr" and self.restores < self.max_restores:
            self.restores += 1
            with torch.no_grad():
                for image, good in zip(pl_module.images, self.good):  # a stage earlier: smaller
                    image.copy_(resize(good, image.shape[-2:]))
            optimizer.state.clear()  # moments may hold NaN
            for group in optimizer.param_groups:
                group["lr"] = group["lr"] / 2
            print(f"nst: non-finite loss at step {step}; back to step {self.good_step}'s image "
                  f"with lr {lr / 2:g} (restore {self.restores}/{self.max_restores})", file=sys.stderr)
            return
        raise NonFiniteLossError(
            f"the loss became NaN/Inf at step {step} (lr {lr:g}); the last finite image (step "
            f"{self.good_step}) is kept at {path}. Fix: lower model.lr or the loss weights, "
            "or set run_guard.on_nan: restore_and_halve_lr"
        )

    def _save_last_good(self, trainer: Trainer, pl_module: LightningModule) -> Path:
        """``last_good.png`` of every pair of this device; returns the first path."""
        paths = [save_image(image, pair_dir(trainer, pair) / "last_good.png", config_metadata(trainer), pair.alpha)
                 for pair, image in pl_module.output_images(self.good)]
        return paths[0]

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if isinstance(exception, (NSTError, MisconfigurationException)) or not len(getattr(pl_module, "images", ())):
            return  # a configuration (ours or Lightning's) or NaN error: nothing worth resuming was made
        if is_out_of_memory(exception):
            return  # resuming at this size would run out of memory again (the error line says what fits)
        if not bool(self.finite(pl_module)):
            return
        if trainer.world_size > 1:  # saving gathers every device's images: not from one device alone
            if trainer.global_rank == 0:
                print(f"nst: stopped at step {trainer.global_step} ({type(exception).__name__}); resume from the "
                      "last periodic checkpoint with --ckpt_path last", file=sys.stderr)
            return
        checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
        folder = Path(checkpoint.dirpath) if checkpoint and checkpoint.dirpath else run_dir(trainer) / "checkpoints"
        path = folder / "last.ckpt"
        try:
            trainer.save_checkpoint(path, weights_only=False)  # the whole state: a resume goes on exactly
        except Exception as e:  # never hide the original error behind this one
            print(f"nst: could not write {path}: {e}", file=sys.stderr)
            return
        self._say_how_to_resume(trainer, exception, path)

    @rank_zero_only
    def _say_how_to_resume(self, trainer: Trainer, exception: BaseException, path: Path) -> None:
        args = [a for a in sys.argv[1:] if not a.startswith("--ckpt_path")]
        command = shlex.join(["python", "train.py", *args, "--ckpt_path", str(path)])
        print(f"nst: stopped at step {trainer.global_step} ({type(exception).__name__}); checkpoint "
              f"saved to {path}. Resume with: {command}", file=sys.stderr)
