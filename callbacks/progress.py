"""The progress bar of a run: ``step 120/200``, the stage of a coarse-to-fine run or chain, the
loss to three significant figures, steps per second and the time left; right after a resume
(it counts the run's steps, not the batches of an epoch)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from lightning.pytorch.callbacks import RichProgressBar
from rich.progress import ProgressColumn, TextColumn
from rich.text import Text


def three_figures(value: float) -> str:
    """``629121.938`` -> ``6.29e+05``; ``0.01234`` -> ``0.0123``."""
    return f"{value:.3g}"


class StepsColumn(ProgressColumn):
    def render(self, task) -> Text:
        total = "?" if task.total in (None, float("inf")) else int(task.total)
        return Text(f"{int(task.completed)}/{total}")


class SpeedColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text("-- steps/s" if task.speed is None else f"{task.speed:.3g} steps/s")


class TimeLeftColumn(ProgressColumn):
    max_refresh = 0.5

    def render(self, task) -> Text:
        left = task.time_remaining
        return Text("" if left is None or not math.isfinite(left) else f"{timedelta(seconds=int(left))} left")


class StepProgressBar(RichProgressBar):
    """Lightning's rich bar, counting ``trainer.global_step`` against ``trainer.max_steps`` (a
    training of epochs: against the epochs' steps, with the epoch in front; a time budget
    alone: ``step N/?``)."""

    @property
    def total_train_batches(self) -> int | float:
        steps, epochs = self.trainer.max_steps, self.trainer.max_epochs
        if steps and steps > 0:
            return steps
        per_epoch = super().total_train_batches
        if epochs and epochs > 0 and math.isfinite(per_epoch):
            return per_epoch * epochs
        return math.inf

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        epochs = (f"epoch {trainer.current_epoch + 1}" + (f"/{trainer.max_epochs}" if (trainer.max_epochs or 0) > 0 else "")
                  if not (trainer.max_steps and trainer.max_steps > 0) else "")
        return " ".join(filter(None, [stage_label(trainer), epochs, "step"]))

    def configure_columns(self, trainer) -> list:
        return [TextColumn("[progress.description]{task.description}"), *super().configure_columns(trainer)[1:2],
                StepsColumn(), SpeedColumn(), TimeLeftColumn()]

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._update(self.train_progress_bar_id, trainer.global_step)  # a resumed run starts where it was

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()
        if self.progress is not None and self.train_progress_bar_id is not None:
            self.progress.update(self.train_progress_bar_id, description=self._get_train_description(0))
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return {k: three_figures(v) if isinstance(v, float) else v for k, v in metrics.items()}


def stage_label(trainer) -> str:
    """``stage 2/3 (181 px)`` inside a coarse-to-fine run (``model.stages``), the chain's stage
    from the run's name (``--scales``), or nothing for a one-size run."""
    module = trainer.lightning_module if trainer is not None else None
    plan = getattr(module, "stage_plan", None) or []
    size = getattr(module, "stage_size", None)
    sizes = [s for s, _ in plan]
    if len(sizes) > 1 and size in sizes:
        return f"stage {sizes.index(size) + 1}/{len(sizes)} ({size} px)"
    chain = re.search(r"scale_(\d+)$", str(getattr(trainer.logger, "name", "") or "")) if trainer is not None else None
    return f"scale {chain.group(1)} px" if chain else ""  # one run of a --scales chain
