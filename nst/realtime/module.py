"""Training a style network: the LightningModule owns the transformation network and scores its
output for a batch of photos with the project's own objective (``nst.objective``): content
against each photo, style against the painting (its targets computed once), TV; one frozen VGG19
for all of them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid

from nst.config_types import Pixels, Pooling, PositiveFloat, Weight
from nst.errors import ConfigError
from nst.media.images import load_image, resize_long_side
from nst.objective.network.features import VGGFeatures
from nst.objective.network.layers import LayerWeights
from nst.objective.network.weights import load_weights
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective
from nst.realtime.instant.files import sha256
from nst.realtime.network import INSTANT, Variant, build_network

FORMAT_VERSION = 1  # of the checkpoint's "nst_realtime" record (nst.realtime.apply reads it)
JOHNSON_CONTENT = ("relu2_2",)  # Johnson et al.'s layers (VGG16 names, which VGG19 has too)
JOHNSON_STYLE = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


class FastStyleTransfer(LightningModule):
    """Johnson et al.'s real-time style transfer: a network that stylises any photo in one pass,
    trained on a folder of photos (``nst.realtime.photos``) to minimise the objective of
    (photo, its output) against one painting.

    Args:
        style: the painting (path).
        style_size: its long side in px while its statistics are taken (sets the brushstrokes' scale
            relative to the training crops).
        network: ``johnson`` (the paper's: 32-64-128 channels, 5 residual blocks), ``small``
            (half the width, 3 blocks: about 4x faster, for CPUs), ``fast`` (``small`` with 5x5
            first and last convolutions instead of 9x9: 4-22 % faster on a CPU, measured) or
            ``instant`` (Magenta's pretrained instant transformer with the painting's style
            vector folded into its norms: step 0 paints the instant picture, training fine-tunes it).
        train_params: ``all`` (every weight) or, with ``instant``, ``norm`` (only the instance
            norms' gamma and beta, Dumoulin et al. 2017; the convolutions stay the pretrained ones).
        instant_weights: the instant network's pretrained weights (``None``: the installed ones;
            as ``train.py stylize --weights``); read when training starts, never when applying.
        from_photo: the network paints over the photo (its output starts as the photo and learns
            the change) instead of from nothing (Johnson et al.'s): a short training run keeps
            the photo's content (docs/realtime.md, measured).
        painting_colours: with ``from_photo``, the photo painted over is first moved to the
            painting's colour mean and covariance (the optimisation's ``style_colors`` start).
        content_loss, style_loss, *_options, content_layers, style_layers: as for the optimisation
            (``nst.objective.losses``); the layers default to Johnson et al.'s.
        content_weight, style_weight, tv_weight: α, β, γ (``None``: the losses' calibrated defaults).
        weights, pooling: the frozen VGG19 (``random`` only for tests).
        lr: Adam's learning rate (Johnson et al.: 1e-3).
        lr_decay: ``linear``: the learning rate falls linearly to 0 over the run's budget (the
            larger share spent of ``trainer.max_steps``/``max_epochs`` and of ``trainer.max_time``:
            under a time budget the schedule follows the clock); ``none``: constant (Johnson et al.).
        val_images: how many validation photos the TensorBoard grid shows.
    """

    def __init__(
        self,
        style: str | None = None,
        style_size: Pixels = 256,
        network: Variant = "johnson",
        from_photo: bool = False,
        painting_colours: bool = False,
        content_loss: str = "mse",
        content_loss_options: dict | None = None,
        style_loss: str = "gram",
        style_loss_options: dict | None = None,
        content_layers: LayerWeights = JOHNSON_CONTENT,
        style_layers: LayerWeights | None = JOHNSON_STYLE,
        content_weight: Weight | None = None,
        style_weight: Weight | None = None,
        tv_weight: Weight = 0.0,
        weights: str = "vgg19-caffe",
        pooling: Pooling = "max",
        lr: PositiveFloat = 1e-3,
        lr_decay: Literal["none", "linear"] = "none",
        val_images: int = 8,
        train_params: Literal["all", "norm"] = "all",
        instant_weights: str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.definition = LossDefinition.from_config(content_loss, content_loss_options, style_loss,
                                                     style_loss_options, content_layers, style_layers)
        if self.definition.style_loss in ("nnst", "self_similarity") or self.definition.content_loss == "self_similarity":
            raise ConfigError(f"style_loss '{style_loss}' needs each photo's own target, which a network trained over "
                              "many photos has not. Fix: gram, mean_std, wasserstein2 or sliced_wasserstein")
        alpha, beta = self.definition.default_weights()
        self.loss_weights = LossWeights(alpha if content_weight is None else content_weight,
                                        beta if style_weight is None else style_weight, tv_weight)
        self.network = build_network(network, from_photo, painting_colours)
        if train_params == "norm":
            if network != INSTANT:
                raise ConfigError(f"train_params norm fine-tunes the pretrained instant network, and '{network}' "
                                  "starts from nothing. Fix: --model.network instant, or --model.train_params all")
            self.network.train_norms_only()
        self.objective: StyleObjective | None = None
        self.strict_loading = False  # the checkpoint holds the network alone, not the frozen VGG19
        self._val_grid: list[torch.Tensor] = []
        self._budget_steps = math.inf

    def configure_model(self) -> None:
        """The frozen VGG19 and the painting's style targets, once per process."""
        if self.objective is not None:
            return
        if not self.hparams.style:
            raise ConfigError("no painting to learn. Fix: --model.style painting.jpg")
        painting = resize_long_side(load_image(self.hparams.style, "style image"), self.hparams.style_size)
        if self.hparams.painting_colours:  # (a resumed run's checkpoint then loads the same values)
            self.network.colours.set_painting(painting)
        if self.hparams.network == INSTANT:  # (likewise: a resumed run's checkpoint then loads its own weights)
            self.fold_instant()
        vgg = VGGFeatures(load_weights(self.hparams.weights), self.definition.layers, self.hparams.pooling)
        self.objective = StyleObjective.build(vgg.to(self.device), self.definition, painting, (painting,),
                                              self.loss_weights)

    def fold_instant(self) -> None:
        """The pretrained instant transformer with the painting's style vector folded in."""
        from nst.realtime.instant.style import style_vector  # (it imports nst.realtime.apply, which imports this)
        from nst.realtime.instant.weights import load_networks

        predictor, transformer = load_networks(self.hparams.instant_weights)
        vector = style_vector(predictor, load_image(self.hparams.style, "style image"))
        self.network.fold(transformer, vector)

    def forward(self, photos: torch.Tensor) -> torch.Tensor:
        return self.network(photos)

    def losses(self, photos: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The stylised photos and the objective's terms: the content target is each photo's own."""
        self.objective.retarget(self.definition, photos)
        stylised = self(photos)
        return stylised, self.objective(stylised.float())

    def training_step(self, batch: dict, batch_idx: int):
        self.count_skipped(batch["skipped"])
        if not len(batch["photos"]):  # every photo of the batch unreadable: a step of zero gradient
            return sum(p.sum() for p in self.network.parameters()) * 0  # (under DDP every device steps alike)
        self.objective.resample(self.global_step)  # sliced Wasserstein: new directions each step, as the optimisation
        _, losses = self.losses(batch["photos"])
        self.log_dict({f"loss/{k}": v.detach() for k, v in losses.items()}, batch_size=len(batch["photos"]))
        self.log("loss", losses["total"].detach(), prog_bar=True, logger=False)
        return losses["total"]

    def count_skipped(self, skipped: int) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if skipped and datamodule is not None:
            datamodule.skipped += skipped
            print(f"nst: skipped {skipped} unreadable photo(s) ({datamodule.skipped} so far)")
        if datamodule is not None:
            self.log("data/skipped", float(datamodule.skipped), batch_size=1)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        if not len(batch["photos"]):
            return
        stylised, losses = self.losses(batch["photos"])
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, batch_size=len(batch["photos"]), sync_dist=True)
        if sum(len(g) for g in self._val_grid) < 2 * self.hparams.val_images:
            self._val_grid += [batch["photos"].float().cpu(), stylised.detach().float().cpu()]

    def on_validation_epoch_end(self) -> None:
        """Photos (odd rows) and their stylised pictures (even rows) as one TensorBoard image."""
        grid, self._val_grid = self._val_grid, []
        if not grid or self.trainer.sanity_checking:
            return
        image = make_grid(torch.cat(grid), nrow=len(grid[0]), padding=2)
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("val/stylised", image, self.global_step)

    def configure_optimizers(self):
        trained = [p for p in self.network.parameters() if p.requires_grad]  # train_params norm: gamma and beta
        optimizer = torch.optim.Adam(trained, lr=self.hparams.lr)
        if self.hparams.lr_decay == "none":
            return optimizer
        self._budget_steps = self.trainer.estimated_stepping_batches  # max_steps, or max_epochs' batches
        self.budget_spent()  # a run without a budget says so before its first step
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: max(0.0, 1.0 - self.budget_spent()))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def budget_spent(self) -> float:
        """The share of the run's budget spent, 0 to 1: the larger of the steps' share and, under
        ``max_time``, the clock's (Lightning's Timer, whose time a resumed run carries on); under
        DDP, rank 0's."""
        shares = []
        if math.isfinite(self._budget_steps):
            shares.append(self.global_step / max(1, self._budget_steps))
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        if timer is not None and timer.time_remaining() is not None:  # remaining = duration - elapsed
            elapsed = timer.time_elapsed()
            shares.append(elapsed / max(1e-9, elapsed + timer.time_remaining()))
        if not shares:
            raise ConfigError("lr_decay linear needs a budget to decay over. Fix: --trainer.max_time DD:HH:MM:SS, "
                              "--trainer.max_steps N or --trainer.max_epochs N")
        # every device steps with rank 0's share: their clocks differ, and their weights must not
        return self.trainer.strategy.broadcast(min(1.0, max(shares)), src=0)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """The network's weights only, and what identifies them (``nst.realtime.apply`` checks it)."""
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("network.")}
        style = self.hparams.style
        checkpoint["nst_realtime"] = {
            "format": FORMAT_VERSION, "network": self.hparams.network,
            "from_photo": self.hparams.from_photo, "painting_colours": self.hparams.painting_colours,
            "style": str(style),
            "style_sha256": sha256(Path(style)) if style and Path(style).is_file() else None,
        }
