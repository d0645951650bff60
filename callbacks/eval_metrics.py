"""Logs the fixed evaluation metrics (``nst.metrics``) every N steps and writes metrics.json."""

from __future__ import annotations

import json

from lightning.pytorch import Callback, LightningModule, Trainer

from nst.features import VGGFeatures
from nst.metrics import EVAL_LAYERS, StyleTransferMetrics
from nst.outputs import pair_dir, run_dir


class EvalMetrics(Callback):
    """Every ``every_n_steps`` steps and at the end, measure the image with metrics that do
    not depend on the run's own losses (see :class:`nst.metrics.StyleTransferMetrics`);
    the final values go to ``metrics.json`` in the run's folder."""

    def __init__(self, every_n_steps: int = 50, enabled: bool = True):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.enabled = enabled
        self.metrics: list[StyleTransferMetrics] = []
        self.last: dict[str, dict[str, float]] = {}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.enabled:
            return
        run_dir(trainer)  # on every device at once (see nst.outputs)
        vgg = VGGFeatures(pl_module.vgg_weights, EVAL_LAYERS).to(pl_module.device)
        device = pl_module.device
        self.metrics = [
            StyleTransferMetrics(vgg, content.to(device), [s.to(device) for s in styles],
                                 pl_module.blends[pl_module.pair_ids[i]])
            for i, (content, styles) in enumerate(pl_module.pairs)
        ]

    def measure(self, trainer: Trainer, pl_module: LightningModule) -> None:
        by_name = dict(pl_module.output_images())
        for name, metrics in zip(pl_module.names, self.metrics):
            self.last[name] = values = metrics(by_name[name])
            if pl_module.several_pairs:
                values = {k.replace("eval/", f"eval/{name}/", 1): v for k, v in values.items()}
            for logger in trainer.loggers:
                logger.log_metrics(values, step=trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.metrics and trainer.global_step % self.every_n_steps == 0:
            self.measure(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.metrics:
            return
        self.measure(trainer, pl_module)
        for name, values in self.last.items():
            path = pair_dir(trainer, pl_module, name) / "metrics.json"
            path.write_text(json.dumps({"step": trainer.global_step, **values}, indent=2) + "\n")
