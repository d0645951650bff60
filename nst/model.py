"""The style-transfer LightningModule: the generated image is its only trainable parameter."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, Optional, Sequence, Union

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from nst.color import (
    check_preserve_color,
    luminance_image,
    match_color_histogram,
    match_luminance,
    with_chroma_of,
)
from nst.data import StylePair, load_mask, load_pairs
from nst.errors import ConfigError
from nst.features import POOLING, VGGFeatures
from nst.images import DEFAULT_MAX_PIXELS, load_image, resize, resize_long_side
from nst.layers import LayerWeights, parse_layer_weights
from nst.losses import (
    CONTENT_LOSSES,
    STYLE_LOSSES,
    GuidedGramLoss,
    LayerLosses,
    TVLoss,
    WeightedSum,
    build_layer_losses,
    check_options,
    lookup,
)
from nst.pairs import collect_pairs, shard
from nst.weights import load_weights

INITS = ("content", "noise", "content+noise", "style")
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("adam", "lbfgs")
DEFAULT_LR = {"adam": 0.02, "lbfgs": 1.0}


def blend_weights(styles: Sequence[str], weights: Optional[Sequence[float]]) -> dict[int, float]:
    """``{style index: weight}`` normalised to sum 1; styles with weight 0 are left out."""
    if weights is None:
        weights = [1.0] * len(styles)
    if len(weights) != len(styles):
        raise ConfigError(
            f"style_blend_weights has {len(weights)} values for {len(styles)} style images; give one each"
        )
    if any(not (w >= 0) or w == float("inf") for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"style_blend_weights must be finite, >= 0 and not all 0, got {list(weights)}")
    total = float(sum(weights))
    return {i: w / total for i, w in enumerate(weights) if w > 0}


def check_masks(styles: int, content_masks, style_masks, style_loss: str) -> None:
    if content_masks is None:
        if style_masks is not None:
            raise ConfigError("style_masks need content_masks (which region gets each style)")
        return
    if style_loss != "gram":
        raise ConfigError(f"masks use guided Gram matrices; set style_loss: gram (got {style_loss})")
    for name, masks in (("content_masks", content_masks), ("style_masks", style_masks)):
        if masks is not None and len(masks) != styles:
            raise ConfigError(f"{name} has {len(masks)} masks for {styles} style images; give one each")


class NeuralStyleTransfer(LightningModule):
    """Gatys et al.'s style transfer: optimise the pixels of ``image`` so that VGG19 sees the
    content of ``content`` and the style (Gram statistics) of ``style``.

    Several pairs (a folder or glob of contents and/or styles, or a CSV manifest ``pairs``) are
    optimised together: images of the same size form one batch parameter (``images``, one per
    size), each image with its own losses, summed, so its gradient is that of its own run. Under
    DDP each device takes every N-th pair and its images are never synchronised.

    Args:
        content: content photo (path), or a folder or glob of photos.
        style: style painting (path), a list of paintings to blend, or a folder or glob of
            paintings (one pair each).
        pairs: a CSV manifest instead: header ``content,style[,name]``, a row per pair.
        size: longest side of the generated image in pixels; ``auto``: the largest that fits
            in the device's free memory (up to the photo's own size; ``nst.memory``).
        style_size: longest side the style images are resized to (default: ``size * style_scale``).
        style_scale: style image size relative to ``size`` (jcjohnson's -style_scale).
        style_blend_weights: one weight per style image (normalised to sum 1; default equal).
        preserve_color: ``none``, ``luminance`` (style on luminance only, the photo's chroma
            kept) or ``histogram`` (the style recoloured to the photo's colour mean/covariance).
        content_masks: one mask image per style over the content photo (white: this style
            goes here; black: not); a single style with a mask switches style off elsewhere.
            Uses guided Gram matrices (Gatys et al. 2017); needs ``style_loss: gram``.
        style_masks: one mask per style image (where to take its style from; default all).
        strength_reference_size: make the result at ``size`` look like the result at this size
            (e.g. a 256 px preview): at the start the style weight is scaled by the ratio of
            style-to-content gradient norms measured at both sizes. None: off.
        content_loss: registered content loss: ``mse`` (default) or ``cosine``.
        content_loss_options: keyword options of the content loss, e.g. ``{normalization: gatys}``.
        style_loss: registered style loss: ``gram`` (default), ``mean_std``, ``wasserstein2``,
            ``sliced_wasserstein``, ``histogram`` or ``mrf``.
        style_loss_options: keyword options of the style loss, e.g. ``{normalization: coursera}``.
        content_weight: alpha, weight of the content loss (default: the loss's own default).
        style_weight: beta, weight of the style loss (default: the loss's own default, measured
            so that every style loss starts with the same pull as ``gram`` at 1e-3).
        tv_weight: gamma, weight of the total-variation loss (smoothness).
        tv_p: 2 for squared (default), 1 for absolute total variation.
        content_layers: layer names, ``{layer: weight}`` or ``[[layer, weight], ...]``.
        style_layers: as ``content_layers``; a plain list gets equal weights 1/L; default:
            the style loss's own layers (``mrf``: relu3_1, relu4_1), else Gatys' five.
        init: ``content``, ``noise``, ``content+noise``, ``style`` or an image path.
        init_noise_ratio: share of noise in the ``content+noise`` start (0.6 as in the seeds).
        optimizer: ``adam`` or ``lbfgs``.
        lr: learning rate (default 0.02 for Adam, in pixel units; 1.0 for L-BFGS).
        lbfgs_max_iter: L-BFGS iterations per training step.
        weights: ``vgg19-caffe``, ``vgg19-torchvision``, ``random`` (tests) or a weights file.
        pooling: ``max`` (VGG's own) or ``avg`` (Gatys et al.'s choice).
        activation_checkpointing: keep only the tapped VGG activations and recompute the rest in
            the backward pass: about half the memory per pixel for a third more time per step,
            for images too large otherwise.
        seed: seed of the initial noise, so that a run is reproducible.
        max_input_pixels: larger input images are refused (decompression-bomb guard).
    """

    def __init__(
        self,
        content: Optional[str] = None,
        style: Union[str, list[str], None] = None,
        pairs: Optional[str] = None,
        size: Union[int, Literal["auto"]] = 400,
        style_size: Optional[int] = None,
        style_scale: float = 1.0,
        style_blend_weights: Optional[list[float]] = None,
        preserve_color: str = "none",
        content_masks: Optional[list[str]] = None,
        style_masks: Optional[list[str]] = None,
        strength_reference_size: Optional[int] = None,
        content_loss: str = "mse",
        content_loss_options: Optional[dict] = None,
        style_loss: str = "gram",
        style_loss_options: Optional[dict] = None,
        content_weight: Optional[float] = None,
        style_weight: Optional[float] = None,
        tv_weight: float = 0.0,
        tv_p: int = 2,
        content_layers: LayerWeights = ("relu4_2",),
        style_layers: Optional[LayerWeights] = None,
        init: str = "content",
        init_noise_ratio: float = 0.6,
        optimizer: str = "adam",
        lr: Optional[float] = None,
        lbfgs_max_iter: int = 20,
        weights: str = "vgg19-caffe",
        pooling: str = "max",
        activation_checkpointing: bool = False,
        seed: int = 0,
        max_input_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        super().__init__()
        if not isinstance(size, int):
            raise ConfigError(f"size: {size!r} must be resolved to pixels before the model is built "
                              "(train.py does this for auto). Fix: give a number of pixels")
        self.save_hyperparameters()
        content_entry = lookup(CONTENT_LOSSES, content_loss, "content_loss")
        style_entry = lookup(STYLE_LOSSES, style_loss, "style_loss")
        check_options(content_entry, content_loss_options or {}, "content_loss")
        check_options(style_entry, style_loss_options or {}, "style_loss")
        self.content_weight = content_entry.default_weight if content_weight is None else content_weight
        self.style_weight = style_entry.default_weight if style_weight is None else style_weight
        self.tv_weight = tv_weight
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = float(getattr(self, name))
            if not value >= 0 or value == float("inf"):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value}")
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer '{optimizer}'; valid: {', '.join(OPTIMIZERS)}")
        if pooling not in POOLING:
            raise ConfigError(f"unknown pooling '{pooling}'; valid: {', '.join(POOLING)}")
        if init not in INITS and not Path(init).suffix:
            raise ConfigError(f"unknown init '{init}'; valid: {', '.join(INITS)} or an image path")
        if not 0.0 <= init_noise_ratio <= 1.0:
            raise ConfigError(f"init_noise_ratio must be in [0, 1], got {init_noise_ratio}")
        if lr is not None and not lr > 0:
            raise ConfigError(f"lr must be > 0, got {lr}")
        check_preserve_color(preserve_color)
        if strength_reference_size is not None and strength_reference_size < 16:
            raise ConfigError(f"strength_reference_size must be >= 16 px, got {strength_reference_size}")
        self.specs = collect_pairs(content, style, pairs)
        self.blends = [blend_weights(spec.styles, style_blend_weights) for spec in self.specs]
        check_masks(len(self.specs[0].styles), content_masks, style_masks, style_loss)
        if len(self.specs) > 1 and content_masks:
            raise ConfigError(f"{len(self.specs)} pairs with content_masks: masks belong to one "
                              "photo. Fix: run one pair at a time with masks")
        if len(self.specs) > 1 and optimizer == "lbfgs":
            raise ConfigError(f"{len(self.specs)} pairs with L-BFGS, whose line search would couple "
                              "the images. Fix: optimizer: adam, or one pair at a time")
        self.masks: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.content_layer_weights = parse_layer_weights(content_layers, "content_layers")
        if style_layers is None:
            style_layers = style_entry.default_layers or GATYS_STYLE_LAYERS
        self.style_layer_weights = parse_layer_weights(style_layers, "style_layers")
        self.tv_loss = TVLoss(tv_p)
        self.vgg: VGGFeatures | None = None
        self.vgg_weights = None
        self.content_losses = nn.ModuleList()
        self.style_losses = nn.ModuleList()
        self.style_weights: list[float] = []
        self.pairs: list[StylePair] = []  # this device's pairs, and below their names and
        self.names: list[str] = []  # indices in the run (seeds and shards depend on them)
        self.pair_ids: list[int] = []
        self.groups: list[list[int]] = []  # which pairs each of ``images`` holds
        self.images = nn.ParameterList()

    @property
    def pair(self) -> StylePair:
        """The first (for a one-pair run: the) pair."""
        return self.pairs[0] if self.pairs else None

    @property
    def image(self) -> torch.Tensor:
        """The image parameter of a one-size run (all its pairs as one batch)."""
        return self.images[0] if len(self.images) else None

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        """Load this device's pairs, the frozen VGG19 and the starting images (once per process)."""
        if not self.pairs:
            h = self.hparams
            datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
            rank, world = (self.trainer.global_rank, self.trainer.world_size) if self._trainer else (0, 1)
            self.pair_ids = shard(len(self.specs), rank, world)
            loaded = getattr(datamodule, "pairs", None)
            if loaded is None or getattr(datamodule, "pair_ids", None) != self.pair_ids:
                loaded = load_pairs(self.specs, self.pair_ids, h.size, h.style_size, h.max_input_pixels,
                                    h.style_scale)
            if h.preserve_color == "histogram":
                loaded = [StylePair(p.content, tuple(match_color_histogram(s, p.content) for s in p.styles))
                          for p in loaded]
            self.pairs, self.names = list(loaded), [self.specs[i].name for i in self.pair_ids]
            shapes: dict[tuple, list[int]] = {}
            for i, pair in enumerate(self.pairs):
                shapes.setdefault(tuple(pair.content.shape), []).append(i)
            self.groups = list(shapes.values())
        if self.hparams.content_masks and self.masks is None:
            self.masks = self.load_masks()
        if self.vgg is None:
            layers = [*self.content_layer_weights, *self.style_layer_weights]
            self.vgg_weights = load_weights(self.hparams.weights)  # callbacks share its tensors
            self.vgg = VGGFeatures(self.vgg_weights, layers, self.hparams.pooling,
                                   self.hparams.activation_checkpointing)
        if not len(self.images):
            for group in self.groups:
                self.images.append(nn.Parameter(torch.cat([self.initial_image(i) for i in group])))
        if isinstance(self.trainer.strategy if self._trainer else None, DDPStrategy):
            self.ignore_in_ddp()

    def ignore_in_ddp(self) -> None:
        """Each device optimises its own images: DDP must neither broadcast nor average them,
        nor the loss targets (buffers made in ``on_fit_start``, after DDP has wrapped the model,
        which DDP would otherwise broadcast from device 0 before every step). DDP refuses a
        module without a synchronised trainable parameter, so an empty one stands in."""
        self.ddp_anchor = nn.Parameter(torch.zeros(0))
        self._ddp_params_and_buffers_to_ignore = [f"images.{g}" for g in range(len(self.images))]
        self.trainer.strategy._ddp_kwargs["broadcast_buffers"] = False  # read when DDP wraps

    def load_masks(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(mask over the style image, mask over the content) for every style image."""
        h = self.hparams
        content, styles = self.pair
        masks = []
        for i, style in enumerate(styles):
            style_mask = (load_mask(h.style_masks[i], tuple(style.shape[-2:]), h.max_input_pixels)
                          if h.style_masks else torch.ones_like(style[:, :1]))
            content_mask = load_mask(h.content_masks[i], tuple(content.shape[-2:]), h.max_input_pixels)
            masks.append((style_mask, content_mask))
        return masks

    def optimised_pair(self, i: int = 0) -> StylePair:
        """What VGG compares: pair ``i`` itself, or its luminance for ``preserve_color: luminance``."""
        content, styles = self.pairs[i]
        if self.hparams.preserve_color != "luminance":
            return self.pairs[i]
        return StylePair(luminance_image(content), tuple(match_luminance(s, content) for s in styles))

    def initial_image(self, i: int = 0) -> torch.Tensor:
        """Pair ``i``'s start; its noise is seeded by ``seed`` + the pair's index in the run, so
        that it does not depend on how pairs are batched or sharded."""
        content, styles = self.optimised_pair(i)
        style = styles[0]
        init, ratio = self.hparams.init, self.hparams.init_noise_ratio
        generator = torch.Generator().manual_seed(self.hparams.seed + self.pair_ids[i])
        noise = torch.rand(content.shape, generator=generator)
        if init == "content":
            return content.clone()
        if init == "noise":
            return noise
        if init == "content+noise":
            return torch.lerp(content, noise, ratio)
        if init == "style":
            return resize(style, tuple(content.shape[-2:]))
        image = load_image(init, "init image", self.hparams.max_input_pixels)
        return resize(image, tuple(content.shape[-2:]))

    def on_fit_start(self) -> None:
        """Compute every pair's content and style targets once, on the training device."""
        self.content_losses, self.style_losses = nn.ModuleList(), nn.ModuleList()
        self.style_weights = []
        reference = self.hparams.strength_reference_size
        for i in range(len(self.pairs)):
            content, styles = self.optimised_pair(i)
            content_loss, style_loss = self.build_losses(content, styles, i)
            self.content_losses.append(content_loss)
            self.style_losses.append(style_loss)
            weight = self.style_weight
            if reference and reference != self.hparams.size:
                factor = self.balance_ratio(reference, i) / self.balance_ratio(None, i)
                weight = weight * factor
                who = f"{self.names[i]}: " if self.several_pairs else ""
                rank_zero_info(f"nst: {who}style_weight x {factor:.3g} = {weight:.4g}, so that "
                               f"{self.hparams.size} px keeps the balance of {reference} px")
            self.style_weights.append(weight)

    @property
    def style_loss(self) -> nn.Module:
        """The first (for a one-pair run: the) pair's style loss, to inspect."""
        return self.style_losses[0]

    def build_losses(self, content: torch.Tensor, styles, i: int = 0) -> tuple[nn.Module, nn.Module]:
        """Content and (blended, possibly guided) style losses with pair ``i``'s targets."""
        h = self.hparams
        blend = self.blends[self.pair_ids[i]]
        with torch.no_grad():
            content_features = self.vgg(content.to(self.device))
            style_features = [self.vgg(styles[s].to(self.device)) for s in blend]
        content_loss = build_layer_losses(
            "content", h.content_loss, h.content_loss_options, content_features,
            self.content_layer_weights, h.seed,
        )
        per_style = []
        for s, features in zip(blend, style_features):
            if self.masks is not None:
                style_mask, content_mask = (m.to(self.device) for m in self.masks[s])
                guided = {l: GuidedGramLoss(features[l], style_mask, content_mask)
                          for l in self.style_layer_weights}
                per_style.append(LayerLosses(guided, self.style_layer_weights))
            else:
                per_style.append(build_layer_losses("style", h.style_loss, h.style_loss_options,
                                                    features, self.style_layer_weights, h.seed + 7919 * s))
        return content_loss, WeightedSum(per_style, list(blend.values()))

    def balance_ratio(self, size: int | None, i: int = 0) -> float:
        """||grad style|| / ||grad content|| (unweighted) at a fixed start image (the seeds'
        noisy content, seeded) of the pair resized so its long side is ``size`` (None: as is).
        Adam ignores a common scale, so this ratio is what sets the look at a given size."""
        content, styles = self.optimised_pair(i)
        if size is not None:
            scale = size / max(content.shape[-2:])
            content = resize_long_side(content, size)
            styles = tuple(resize_long_side(s, max(16, round(max(s.shape[-2:]) * scale))) for s in styles)
            content_loss, style_loss = self.build_losses(content, styles, i)
        else:
            content_loss, style_loss = self.content_losses[i], self.style_losses[i]
        noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(self.hparams.seed))
        image = torch.lerp(content, noise, 0.6).to(self.device).requires_grad_(True)
        features = self.vgg(image)
        norms = [torch.autograd.grad(loss(features), image, retain_graph=True)[0].norm()
                 for loss in (style_loss, content_loss)]
        return float(norms[0] / norms[1].clamp(min=1e-30))

    # ------------------------------------------------------------------ optimisation
    def forward(self) -> dict[str, torch.Tensor]:
        """The losses: ``total`` is the sum of every image's own total (so each image gets the
        gradient of its own run); the parts are means over the images, for logging. TV costs a
        pass over the pixels, so with weight 0 it is only measured on the steps that log it."""
        parts = {"content": [], "style": [], "tv": [], "total": []}
        log = self.logging_step()
        for image, group in zip(self.images, self.groups):
            features = self.vgg(image)
            for j, i in enumerate(group):
                own = {layer: f[j: j + 1] for layer, f in features.items()} if len(group) > 1 else features
                content = self.content_losses[i](own)
                style = self.style_losses[i](own)
                total = self.content_weight * content + self.style_weights[i] * style
                if self.tv_weight:
                    tv = self.tv_loss(image[j: j + 1])
                    total = total + self.tv_weight * tv
                elif log:
                    with torch.no_grad():
                        tv = self.tv_loss(image[j: j + 1])
                else:
                    tv = None
                for key, value in (("content", content), ("style", style), ("tv", tv), ("total", total)):
                    parts[key].append(value)
        total = torch.stack(parts.pop("total")).sum()
        losses = {k: torch.stack(v).mean() if None not in v else None for k, v in parts.items()}
        losses["total"] = total
        if hasattr(self, "ddp_anchor"):
            losses["total"] = losses["total"] + self.ddp_anchor.sum()
        return losses

    def logging_step(self) -> bool:
        """Log on the steps the Trainer writes (``log_every_n_steps``; its own test) only:
        logging every step costs host work, and on GPU a sync per value for the progress bar."""
        if self._trainer is None:
            return True
        every = self.trainer.log_every_n_steps
        return every > 0 and (self.global_step + 1) % every == 0

    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor:
        """``batch`` is the step number: the pairs' targets were computed in ``on_fit_start``."""
        losses = self()
        if self.logging_step():
            self.log_dict({f"loss/{k}": v.detach() for k, v in losses.items() if v is not None},
                          prog_bar=False)
            self.log("loss", losses["total"].detach(), prog_bar=True, logger=False)
        return losses["total"]

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        """Losses that draw random numbers (sliced Wasserstein) draw this step's once."""
        for module in self.style_losses.modules():
            if hasattr(module, "resample"):
                module.resample(self.global_step)

    def optimizer_step(self, *args, **kwargs) -> None:
        """Keep pixels valid: project back into [0, 1] right after every optimiser step (before
        any callback sees or checkpoints the image)."""
        super().optimizer_step(*args, **kwargs)
        with torch.no_grad():
            for image in self.images:
                image.clamp_(0, 1)

    def configure_optimizers(self):
        h = self.hparams
        lr = h.lr if h.lr is not None else DEFAULT_LR[h.optimizer]
        if h.optimizer == "lbfgs":
            return torch.optim.LBFGS(
                list(self.images), lr=lr, max_iter=h.lbfgs_max_iter, history_size=100,
                line_search_fn="strong_wolfe",
            )
        return torch.optim.Adam(list(self.images), lr=lr)

    # ------------------------------------------------------------------ outputs
    def output_images(self, images: Sequence[torch.Tensor] | None = None) -> list[tuple[str, torch.Tensor]]:
        """(pair name, image) for each of this device's pairs, as a user should see it: 1x3xHxW
        in [0, 1], detached (with the photo's chroma under ``preserve_color: luminance``).
        ``images``: copies of ``self.images`` to show instead (the NaN guard's last good ones)."""
        out = []
        for image, group in zip(self.images if images is None else images, self.groups):
            for j, i in enumerate(group):
                x = image[j: j + 1].detach().float().clamp(0, 1)
                if self.hparams.preserve_color == "luminance":
                    x = with_chroma_of(x, self.pairs[i].content.to(x.device))
                out.append((self.names[i], x))
        return out

    def output_image(self) -> torch.Tensor:
        """The first (for a one-pair run: the) image, as :meth:`output_images`."""
        return self.output_images()[0][1]

    @property
    def several_pairs(self) -> bool:
        """The run makes several pairs (outputs go to a folder per pair)."""
        return len(self.specs) > 1

    def config_metadata(self) -> dict[str, str]:
        """The run's hyper-parameters and their hash, embedded in every saved PNG."""
        config = json.dumps(dict(self.hparams), sort_keys=True, default=str)
        return {"nst:config": config, "nst:config_sha256": hashlib.sha256(config.encode()).hexdigest()}

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Leave the frozen VGG19 out: it is rebuilt from ``weights`` (80 MB saved per file)."""
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(("vgg.", "ddp_anchor"))]:
            del state[key]
        checkpoint["nst_pairs"] = list(self.names)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        saved = checkpoint.get("nst_pairs")
        if self.names and saved is not None and saved != self.names:
            raise ConfigError(
                f"the checkpoint holds the images of {len(saved)} pair(s) ({', '.join(saved[:3])}...), "
                f"this device makes {', '.join(self.names[:3])}...: a checkpoint holds one device's "
                "images. Fix: resume with the same pairs on one device (--trainer.devices 1)"
            )
        if self.vgg is not None:
            state.update({f"vgg.{k}": v for k, v in self.vgg.state_dict().items()})
        if hasattr(self, "ddp_anchor"):
            state["ddp_anchor"] = self.ddp_anchor
        if not len(self.images):
            for g in range(len([k for k in state if k.startswith("images.")])):
                self.images.append(nn.Parameter(torch.empty_like(state[f"images.{g}"])))
