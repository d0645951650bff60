"""Logs the fixed evaluation metrics (``nst.metrics``) every N steps and writes metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

from nst.features import VGGFeatures
from nst.metrics import EVAL_LAYERS, StyleTransferMetrics


class EvalMetrics(Callback):
    """Every ``every_n_steps`` steps and at the end, measure the image with metrics that do
    not depend on the run's own losses (see :class:`nst.metrics.StyleTransferMetrics`);
    the final values go to ``metrics.json`` in the run's folder."""

    def __init__(self, every_n_steps: int = 50, enabled: bool = True):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.enabled = enabled
        self.metrics: StyleTransferMetrics | None = None
        self.last: dict[str, float] = {}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.enabled:
            return
        vgg = VGGFeatures(pl_module.vgg_weights, EVAL_LAYERS)
        device = pl_module.device
        content, styles = pl_module.pair
        self.metrics = StyleTransferMetrics(
            vgg.to(device), content.to(device), [s.to(device) for s in styles], pl_module.style_blend
        )

    def measure(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.last = self.metrics(pl_module.output_image())
        for logger in trainer.loggers:
            logger.log_metrics(self.last, step=trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.metrics is not None and trainer.global_step % self.every_n_steps == 0:
            self.measure(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.metrics is None:
            return
        self.measure(trainer, pl_module)
        self.write(trainer)

    @rank_zero_only
    def write(self, trainer: Trainer) -> None:
        path = Path(trainer.log_dir or trainer.default_root_dir) / "metrics.json"
        path.write_text(json.dumps({"step": trainer.global_step, **self.last}, indent=2) + "\n")
