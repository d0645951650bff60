"""Stop a run when its loss has stopped falling, instead of after a fixed number of steps."""

from __future__ import annotations

import math

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.utilities import rank_zero_only

from nst.config_types import PositiveInt
from nst.errors import ConfigError


class Converged(EarlyStopping):
    """Lightning's ``EarlyStopping`` on the total loss with a *relative* tolerance, checked every
    ``check_every_n_steps`` steps (a run is one endless epoch, so the epoch-end check never
    comes): the run stops once the loss has fallen by less than ``tolerance`` (0.005: 0.5 %)
    below its best for ``patience`` checks in a row. ``trainer.max_steps`` stays the ceiling.
    ``tolerance: null`` (the default) turns it off.

    The comparison is of log(loss), so that the tolerance is relative. The best value
    restarts at each stage of a coarse-to-fine run (the loss at a new size is not comparable),
    and the wait count and best value are kept in checkpoints (``EarlyStopping``'s state).

    Args:
        tolerance: stop once the loss falls by less than this share of its best (``null``: off).
        patience: checks in a row without such a fall before the run stops.
        check_every_n_steps: compare the loss every this many steps.
    """

    def __init__(self, tolerance: float | None = None, patience: PositiveInt = 2,
                 check_every_n_steps: PositiveInt = 10):
        if tolerance is not None and not 0 < tolerance < 1:
            raise ValueError(f"converged.tolerance must be between 0 and 1 (a share of the loss), got {tolerance}")
        # loss < best * (1 - tolerance)  <=>  log(loss) < log(best) - min_delta
        super().__init__(monitor="loss", min_delta=-math.log1p(-(tolerance or 0.0)), patience=patience, mode="min")
        self.tolerance = tolerance
        self.check_every_n_steps = check_every_n_steps
        self.stage_size: int | None = None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.tolerance is not None and getattr(pl_module, "makes_video", False):
            raise ConfigError("converged.tolerance stops a whole run, and a video's frames have their own step "
                              "counts. Fix: drop --converged.tolerance; set model.steps_per_frame")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Not at epoch ends: per step, below."""

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx) -> None:
        if self.tolerance is None or trainer.global_step % self.check_every_n_steps or self._should_skip_check(trainer):
            return
        stage = getattr(pl_module, "stage_size", None)
        if stage != self.stage_size:  # a new size: the loss starts over
            if self.stage_size is not None:
                self.best_score, self.wait_count = torch.tensor(torch.inf), 0
            self.stage_size = stage
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        should_stop, _ = self._evaluate_stopping_criteria(loss.detach().float().log().cpu())
        should_stop = trainer.strategy.reduce_boolean_decision(should_stop, all=False)
        if should_stop and not trainer.should_stop:
            trainer.should_stop = True
            self.say_stopped(trainer)

    @rank_zero_only
    def say_stopped(self, trainer: Trainer) -> None:
        print(f"nst: converged at step {trainer.global_step}: the loss fell less than {self.tolerance:.2%} "
              f"in {self.patience * self.check_every_n_steps} steps (--converged.tolerance null runs all "
              f"{trainer.max_steps})")

    def state_dict(self) -> dict:
        return {**super().state_dict(), "stage_size": self.stage_size}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.stage_size = state_dict.get("stage_size")
