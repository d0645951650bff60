"""Logs the fixed evaluation metrics (``nst.objective.metrics``) every N steps and writes metrics.json."""

from __future__ import annotations

import json

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info

from nst.config_types import PositiveInt
from nst.objective.network.features import VGGFeatures
from nst.objective.metrics import EVAL_LAYERS, StyleTransferMetrics
from nst.runs.outputs import pair_dir, run_dir, write_text


class EvalMetrics(Callback):
    """Every ``every_n_steps`` steps and at the end, measure the image with metrics that do
    not depend on the run's own losses (see :class:`nst.objective.metrics.StyleTransferMetrics`);
    the final values go to ``metrics.json`` in the run's folder.

    Args:
        every_n_steps: measure every this many steps (and at the end).
        enabled: ``false``: no evaluation passes and no ``metrics.json`` (the picture is the same).
    """

    def __init__(self, every_n_steps: PositiveInt = 50, enabled: bool = True):
        self.every_n_steps = every_n_steps
        self.enabled = enabled
        self.metrics: dict[str, StyleTransferMetrics] = {}
        self.last: dict[str, tuple] = {}  # pair name -> (pair, its latest values)
        self.wanted = False  # set at the start of a fit that measures

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.wanted = False
        if not self.enabled:
            return
        tiling = getattr(pl_module, "tiling", None)
        if tiling is not None and any(tiling.applies(pair.start) for pair in pl_module.pairs):
            rank_zero_info("nst: eval metrics skipped: they run VGG19 on the whole image, which tiling "
                           "(model.tile_size) avoids; the logged losses are the whole image's")
            return
        run_dir(trainer)  # on every device at once (see nst.runs.outputs)
        self.wanted = True  # the targets are computed at the first measurement, not before the first step

    def build(self, pl_module: LightningModule) -> None:
        vgg = VGGFeatures(pl_module.vgg_weights, EVAL_LAYERS).to(pl_module.device)
        device = pl_module.device
        self.metrics = {
            pair.name: StyleTransferMetrics(vgg, pair.content.to(device), [s.to(device) for s in pair.styles],
                                            pair.blend)
            for pair in pl_module.pairs
        }

    def measure(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.metrics:
            self.build(pl_module)
        for pair, image in pl_module.output_images():
            values = self.metrics[pair.name](image)
            self.last[pair.name] = (pair, values)
            if pair.folder:
                values = {k.replace("eval/", f"eval/{pair.folder}/", 1): v for k, v in values.items()}
            for logger in trainer.loggers:
                logger.log_metrics(values, step=trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.wanted and trainer.global_step % self.every_n_steps == 0:
            self.measure(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.wanted:
            return
        self.measure(trainer, pl_module)
        for pair, values in self.last.values():
            path = pair_dir(trainer, pair) / "metrics.json"
            write_text(path, json.dumps({"step": trainer.global_step, **values}, indent=2) + "\n")
