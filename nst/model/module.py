"""The style-transfer LightningModule: the generated images are its only trainable parameters;
it wires them to each pair's :class:`~nst.objective.style_objective.StyleObjective` and to the optimiser."""

from __future__ import annotations

from typing import Literal

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.strategies import DDPStrategy
from torch import nn

from nst.model.checkpoints import ImageCheckpoints
from nst.model.optimisation import ImageOptimisation
from nst.config_types import (
    ClosedUnitInterval,
    Decay,
    NonNegativeInt,
    Optimizer,
    Pixels,
    Pooling,
    PositiveFloat,
    PositiveInt,
    Weight,
)
from nst.errors import ConfigError
from nst.objective.network.features import VGGFeatures
from nst.inputs.pair import Pair
from nst.objective.network.layers import LayerWeights
from nst.objective.style_objective import LossDefinition, LossWeights, check_video
from nst.model.schedule import (
    ImageEMA,
    Stages,
)
from nst.model.parameterisation import Parameterisation
from nst.model.stages import StagedImages
from nst.objective.tiles import DEFAULT_HALO, Tiling
from nst.objective.tiling import resolve_tiling
from nst.objective.network.weights import load_weights

class NeuralStyleTransfer(StagedImages, ImageCheckpoints, ImageOptimisation, LightningModule):
    """Gatys et al.'s style transfer: optimise the pixels of each pair's image so that VGG19
    sees the content of its photo and the style of its painting(s).

    The pairs come from the data module (``nst.inputs.data``), as :class:`~nst.inputs.pair.Pair` records.
    Images of the same size form one batch parameter (``images[g]`` holds ``batches[g]``);
    each image has its own objective, and the total is their sum, so each gets the gradient of
    its own run. Under DDP each device optimises its own pairs; images are never synchronised.

    Args:
        content_loss, style_loss: registered losses (``mse``/``cosine``; ``gram``, ``mean_std``,
            ``wasserstein2``, ``sliced_wasserstein``, ``histogram``, ``mrf``).
        content_loss_options, style_loss_options: their keyword options.
        content_weight, style_weight, tv_weight: α, β, γ (``None``: the loss's default).
        tv_p: 2 for squared, 1 for absolute total variation.
        content_layers, style_layers: names, ``{layer: weight}`` or ``[[layer, weight], ...]``;
            ``style_layers=None``: the style loss's own default (Gatys' five).
        strength_reference_size: scale β at the start so that this run keeps the style/content
            balance of this size (``nst.model.strength``).
        optimizer, lr, lbfgs_max_iter: ``adam`` (lr 0.03 in pixel units) or ``lbfgs`` (lr 1.0).
        weights: ``vgg19-caffe``, ``vgg19-torchvision``, ``random`` (tests) or a weights file.
        pooling: ``max`` (VGG's own) or ``avg`` (Gatys et al.'s choice).
        activation_checkpointing: recompute untapped VGG activations in the backward pass:
            about 28% less memory per pixel for about 40% more time per step.
        stages: coarse to fine in one run: ``auto`` (from about 128 px up to ``data.size`` by
            x sqrt(2)), a list of long sides ending at ``data.size``, or ``None`` (one size). The
            image and Adam's moments are resized from stage to stage (``nst.model.schedule``).
        final_stage_share: the share of ``trainer.max_steps`` spent at the last stage.
        ema_decay: the output is a moving average of the iterates with this decay (0: the last
            iterate), restarted at each stage; 0.9 evens out Adam's jitter.
        normalize_gradients: jcjohnson's: each layer loss's gradient L1-normalised.
        lr_schedule: ``anneal``: Adam's lr stays, then falls linearly to 0 over the last quarter
            of ``trainer.max_steps``; ``cosine``: from ``lr`` to 0 along a half cosine; ``auto``
            (default): anneal, but constant for a video or without ``max_steps`` (``nst.model.schedule``).
        temporal_weight, video_init, steps_first_frame, steps_per_frame: a video's frames
            (``nst.model.temporal``): the weight of the temporal loss (0: off), each frame's start
            (``warped``: the previous result carried by the optical flow; ``content``: its photo)
            and the steps of the first frame and of each later one.
        tile_size: run VGG19 on tiles of this many px (or ``auto``: from the free memory) when
            the image is larger, so that memory follows the tile (docs/guide/print-size.md); the
            style statistics stay those of the whole image (``nst.objective.tiling``). ``None``: untiled.
        tile_halo: px of context around each tile (80: exact features up to relu5_1).
        parameterisation: what the optimiser steps: ``pixels``, or the coefficients of a
            ``pyramid``, ``decorrelated`` colour or ``fourier`` basis (``nst.model.parameterisation``).
    """

    def __init__(
        self,
        content_loss: str = "mse",
        content_loss_options: dict | None = None,
        style_loss: str = "gram",
        style_loss_options: dict | None = None,
        content_weight: Weight | None = None,
        style_weight: Weight | None = None,
        tv_weight: Weight = 0.0,
        tv_p: Literal[1, 2] = 2,
        content_layers: LayerWeights = ("relu4_2",),
        style_layers: LayerWeights | None = None,
        strength_reference_size: PositiveInt | None = None,
        optimizer: Optimizer = "adam",
        lr: PositiveFloat | None = None,
        lbfgs_max_iter: PositiveInt = 20,
        weights: str = "vgg19-caffe",
        pooling: Pooling = "max",
        activation_checkpointing: bool = False,
        stages: Stages = None,
        final_stage_share: ClosedUnitInterval = 0.2,
        ema_decay: Decay = 0.9,
        normalize_gradients: bool = False,
        lr_schedule: Literal["auto", "constant", "anneal", "cosine"] = "auto",
        temporal_weight: Weight = 1e4,
        video_init: Literal["warped", "content"] = "warped",
        steps_first_frame: PositiveInt = 300,
        steps_per_frame: PositiveInt = 100,
        tile_size: Pixels | Literal["auto"] | None = None,
        tile_halo: NonNegativeInt = DEFAULT_HALO,
        parameterisation: Parameterisation = "pixels",
    ):
        super().__init__()
        self.save_hyperparameters()
        self.definition = LossDefinition.from_config(content_loss, content_loss_options, style_loss,
                                                     style_loss_options, content_layers, style_layers, tv_p,
                                                     normalize_gradients)
        alpha, beta = self.definition.default_weights()
        self.loss_weights = LossWeights(alpha if content_weight is None else content_weight,
                                        beta if style_weight is None else style_weight, tv_weight)
        self.batches: list[list[Pair]] = []  # the pairs in each of ``images``, row by row
        self.images = nn.ParameterList()
        self.vgg: VGGFeatures | None = None
        self.stage_size: int | None = None  # the long side the objectives are built for
        self.averages: list[ImageEMA] = []  # one per image parameter, with ema_decay > 0
        self.restored_averages: list[dict] | None = None
        self.tiling: Tiling | None = None
        self._first_evaluation = True  # of this step's objective: the one logged

    def receive(self, pairs: list[Pair]) -> None:
        """This device's pairs (the data module hands them over); same-size pairs share a batch."""
        if len(pairs) > 1 and self.hparams.optimizer == "lbfgs":
            raise ConfigError(f"{len(pairs)} pairs with L-BFGS, whose line search would couple the images. "
                              "Fix: optimizer: adam, or one pair at a time")
        by_shape: dict[tuple, list[Pair]] = {}
        for pair in pairs:
            by_shape.setdefault(tuple(pair.start.shape), []).append(pair)
        self.batches = list(by_shape.values())

    @property
    def pairs(self) -> list[Pair]:
        return [pair for batch in self.batches for pair in batch]

    def setup(self, stage: str) -> None:
        """The frozen VGG19 and the image parameters (once per process)."""
        if not self.batches:
            raise ConfigError("the model has no pairs to optimise. Fix: fit it with nst.inputs.data.StylePairDataModule, "
                              "or hand it pairs with receive()")
        if any(pair.clip is not None for pair in self.pairs):
            check_video(self.definition)
        if self.vgg is None:
            self.vgg_weights = load_weights(self.hparams.weights)  # callbacks share its tensors
            self.vgg = VGGFeatures(self.vgg_weights, self.definition.layers,
                                   self.hparams.pooling, self.hparams.activation_checkpointing)
            self.tiling = resolve_tiling(self, self.definition.style_loss, self.definition.content_loss)
        if not len(self.images):
            for batch in self.batches:
                self.images.append(nn.Parameter(torch.cat([pair.start for pair in batch])))
        if self._trainer is not None and isinstance(self.trainer.strategy, DDPStrategy):
            self.ignore_in_ddp()

    def ignore_in_ddp(self) -> None:
        """Each device optimises its own images: DDP must neither broadcast nor average them.
        DDP refuses a module without a synchronised trainable parameter: an empty one stands in."""
        self.ddp_anchor = nn.Parameter(torch.zeros(0))
        self._ddp_params_and_buffers_to_ignore = [f"images.{g}" for g in range(len(self.images))]

    # ------------------------------------------------------------------ a step
    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor:
        """``batch`` is the step number: the pairs' targets live in their objectives."""
        log = self.logging_step()
        losses = self.losses(with_tv=log)
        if log:
            self.log_dict({f"loss/{k}": v.detach() for k, v in losses.items()})
            self.log("loss", losses["total"].detach(), prog_bar=True, logger=False)
        return losses["total"]

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        """This step's stage; losses that draw random numbers (sliced Wasserstein) draw this
        step's once."""
        self.enter_stage(self.global_step)
        self._first_evaluation = True
        for pair in self.pairs:
            pair.objective.resample(self.global_step)

