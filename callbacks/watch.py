"""Hands the picture as it forms to a function every N steps, and stops the run when asked: what
a notebook or the studio needs to watch and steer a run from the Python API (``nst.stylize``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from PIL import Image

from nst.media.images import to_uint8


@dataclass
class Progress:
    """One look at a running picture: ``image`` (PIL, the output as it stands: the moving average
    where there is one), the ``losses`` logged last (``loss/total``, ``loss/style``, ...), the
    ``step`` of ``max_steps`` of this stage (``stage`` of ``stages``, counted from 1), and the
    seconds since the call began. ``done`` on the last look."""

    step: int
    max_steps: int
    image: Image.Image
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    stage: int = 1
    stages: int = 1
    done: bool = False


def to_pil(image: torch.Tensor) -> Image.Image:
    """1x3xHxW (or 3xHxW) float in [0, 1] -> an RGB PIL image."""
    return Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy(), "RGB")  # to_uint8: detached, on the CPU


class Watch(Callback):
    """Calls ``on_progress(Progress)`` at the start, every ``every`` steps and at the end, and
    stops the run (keeping the current picture as ``final.png``) once ``stop`` is set, or when
    ``on_progress`` returns ``False``. One instance follows every stage of a coarse-to-fine chain."""

    def __init__(self, on_progress: Callable[[Progress], object] | None = None, every: int = 10,
                 stop: threading.Event | None = None, stages: int = 1):
        self.on_progress = on_progress
        self.every = max(1, int(every))
        self.stop = stop if stop is not None else threading.Event()
        self.stages = stages
        self.stage = 0
        self.started = time.perf_counter()

    def look(self, trainer: Trainer, pl_module: LightningModule, done: bool = False) -> None:
        if self.on_progress is None:
            return
        image = next(iter(pl_module.output_images()))[1]
        losses = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("loss/")}
        if self.total is not None:
            losses["loss/total"] = self.total
        progress = Progress(trainer.global_step, trainer.max_steps, to_pil(image), losses,
                            time.perf_counter() - self.started, self.stage, self.stages, done)
        if self.on_progress(progress) is False:
            self.stop.set()

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.stage, self.total = self.stage + 1, None
        self.look(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.stop.is_set() and trainer.global_step % self.every == 0 and trainer.global_step < trainer.max_steps:
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            self.total = None if loss is None else float(loss)  # one host sync per look, not per step
            self.look(trainer, pl_module)
        if self.stop.is_set():  # after this step: the picture it made is the result
            trainer.should_stop = True

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.look(trainer, pl_module, done=self.stage == self.stages or self.stop.is_set())
