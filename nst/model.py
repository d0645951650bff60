"""The style-transfer LightningModule: the generated image is its only trainable parameter."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from nst.color import (
    check_preserve_color,
    luminance_image,
    match_color_histogram,
    match_luminance,
    with_chroma_of,
)
from nst.data import StylePair, load_mask, load_pair, style_paths
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

    Args:
        content: content photo (path).
        style: style painting (path), or a list of paintings to blend.
        size: longest side of the generated image in pixels.
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
        content: str,
        style: Union[str, list[str]],
        size: int = 400,
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
        self.style_blend = blend_weights(style_paths(style), style_blend_weights)
        check_masks(len(style_paths(style)), content_masks, style_masks, style_loss)
        self.masks: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.content_layer_weights = parse_layer_weights(content_layers, "content_layers")
        if style_layers is None:
            style_layers = style_entry.default_layers or GATYS_STYLE_LAYERS
        self.style_layer_weights = parse_layer_weights(style_layers, "style_layers")
        self.tv_loss = TVLoss(tv_p)
        self.vgg: VGGFeatures | None = None
        self.vgg_weights = None
        self.content_loss: nn.Module | None = None
        self.style_loss: nn.Module | None = None
        self.pair: StylePair | None = None
        self.register_parameter("image", None)

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        """Load the pair, the frozen VGG19 and the starting image (once per process)."""
        if self.pair is None:
            datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
            pair = getattr(datamodule, "pair", None)
            h = self.hparams
            if pair is None:
                pair = load_pair(h.content, h.style, h.size, h.style_size, h.max_input_pixels,
                                 h.style_scale)
            if h.preserve_color == "histogram":
                pair = StylePair(pair.content, tuple(match_color_histogram(s, pair.content)
                                                     for s in pair.styles))
            self.pair = pair
        if self.hparams.content_masks and self.masks is None:
            self.masks = self.load_masks()
        if self.vgg is None:
            layers = [*self.content_layer_weights, *self.style_layer_weights]
            self.vgg_weights = load_weights(self.hparams.weights)  # callbacks share its tensors
            self.vgg = VGGFeatures(self.vgg_weights, layers, self.hparams.pooling,
                                   self.hparams.activation_checkpointing)
        if self.image is None:
            self.image = nn.Parameter(self.initial_image())

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

    def optimised_pair(self) -> StylePair:
        """What VGG compares: the pair itself, or its luminance for ``preserve_color: luminance``."""
        content, styles = self.pair
        if self.hparams.preserve_color != "luminance":
            return self.pair
        return StylePair(luminance_image(content), tuple(match_luminance(s, content) for s in styles))

    def initial_image(self) -> torch.Tensor:
        content, styles = self.optimised_pair()
        style = styles[0]
        init, ratio = self.hparams.init, self.hparams.init_noise_ratio
        generator = torch.Generator().manual_seed(self.hparams.seed)
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
        """Compute the content and style targets once, on the training device."""
        content, styles = self.optimised_pair()
        self.content_loss, self.style_loss = self.build_losses(content, styles)
        reference = self.hparams.strength_reference_size
        if reference and reference != self.hparams.size:
            factor = self.balance_ratio(reference) / self.balance_ratio(None)
            self.style_weight = self.style_weight * factor
            rank_zero_info(f"nst: style_weight x {factor:.3g} = {self.style_weight:.4g}, so that "
                       f"{self.hparams.size} px keeps the balance of {reference} px")

    def build_losses(self, content: torch.Tensor, styles) -> tuple[nn.Module, nn.Module]:
        """Content and (blended, possibly guided) style losses with these images' targets."""
        h = self.hparams
        with torch.no_grad():
            content_features = self.vgg(content.to(self.device))
            style_features = [self.vgg(styles[i].to(self.device)) for i in self.style_blend]
        content_loss = build_layer_losses(
            "content", h.content_loss, h.content_loss_options, content_features,
            self.content_layer_weights, h.seed,
        )
        per_style = []
        for i, features in zip(self.style_blend, style_features):
            if self.masks is not None:
                style_mask, content_mask = (m.to(self.device) for m in self.masks[i])
                guided = {l: GuidedGramLoss(features[l], style_mask, content_mask)
                          for l in self.style_layer_weights}
                per_style.append(LayerLosses(guided, self.style_layer_weights))
            else:
                per_style.append(build_layer_losses("style", h.style_loss, h.style_loss_options,
                                                    features, self.style_layer_weights, h.seed + 7919 * i))
        return content_loss, WeightedSum(per_style, list(self.style_blend.values()))

    def balance_ratio(self, size: int | None) -> float:
        """||grad style|| / ||grad content|| (unweighted) at a fixed start image (the seeds'
        noisy content, seeded) of the pair resized so its long side is ``size`` (None: as is).
        Adam ignores a common scale, so this ratio is what sets the look at a given size."""
        content, styles = self.optimised_pair()
        if size is not None:
            scale = size / max(content.shape[-2:])
            content = resize_long_side(content, size)
            styles = tuple(resize_long_side(s, max(16, round(max(s.shape[-2:]) * scale))) for s in styles)
            content_loss, style_loss = self.build_losses(content, styles)
        else:
            content_loss, style_loss = self.content_loss, self.style_loss
        noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(self.hparams.seed))
        image = torch.lerp(content, noise, 0.6).to(self.device).requires_grad_(True)
        features = self.vgg(image)
        norms = [torch.autograd.grad(loss(features), image, retain_graph=True)[0].norm()
                 for loss in (style_loss, content_loss)]
        return float(norms[0] / norms[1].clamp(min=1e-30))

    # ------------------------------------------------------------------ optimisation
    def forward(self) -> dict[str, torch.Tensor]:
        """The losses of the current image. TV costs a pass over the pixels, so with weight 0
        it is only measured (without gradient) on the steps that log it."""
        features = self.vgg(self.image)
        content = self.content_loss(features)
        style = self.style_loss(features)
        total = self.content_weight * content + self.style_weight * style
        if self.tv_weight:
            tv = self.tv_loss(self.image)
            total = total + self.tv_weight * tv
        elif self.logging_step():
            with torch.no_grad():
                tv = self.tv_loss(self.image)
        else:
            tv = None
        return {"content": content, "style": style, "tv": tv, "total": total}

    def logging_step(self) -> bool:
        """Log on the steps the Trainer writes (``log_every_n_steps``; its own test) only:
        logging every step costs host work, and on GPU a sync per value for the progress bar."""
        if self._trainer is None:
            return True
        every = self.trainer.log_every_n_steps
        return every > 0 and (self.global_step + 1) % every == 0

    def training_step(self, batch: StylePair, batch_idx: int) -> torch.Tensor:
        """``batch`` is the (content, style) pair; its targets were computed in ``on_fit_start``."""
        losses = self()
        if self.logging_step():
            self.log_dict({f"loss/{k}": v.detach() for k, v in losses.items()}, prog_bar=False)
            self.log("loss", losses["total"].detach(), prog_bar=True, logger=False)
        return losses["total"]

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        """Losses that draw random numbers (sliced Wasserstein) draw this step's once."""
        for module in self.style_loss.modules():
            if hasattr(module, "resample"):
                module.resample(self.global_step)

    def optimizer_step(self, *args, **kwargs) -> None:
        """Keep pixels valid: project back into [0, 1] right after every optimiser step (before
        any callback sees or checkpoints the image)."""
        super().optimizer_step(*args, **kwargs)
        with torch.no_grad():
            self.image.clamp_(0, 1)

    def configure_optimizers(self):
        h = self.hparams
        lr = h.lr if h.lr is not None else DEFAULT_LR[h.optimizer]
        if h.optimizer == "lbfgs":
            return torch.optim.LBFGS(
                [self.image], lr=lr, max_iter=h.lbfgs_max_iter, history_size=100,
                line_search_fn="strong_wolfe",
            )
        return torch.optim.Adam([self.image], lr=lr)

    # ------------------------------------------------------------------ outputs
    def output_image(self) -> torch.Tensor:
        """The image as a user should see it: 1x3xHxW in [0, 1], detached (with the photo's
        chroma under ``preserve_color: luminance``)."""
        image = self.image.detach().float().clamp(0, 1)
        if self.hparams.preserve_color == "luminance":
            image = with_chroma_of(image, self.pair.content.to(image.device))
        return image

    def config_metadata(self) -> dict[str, str]:
        """The run's hyper-parameters and their hash, embedded in every saved PNG."""
        config = json.dumps(dict(self.hparams), sort_keys=True, default=str)
        return {"nst:config": config, "nst:config_sha256": hashlib.sha256(config.encode()).hexdigest()}

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Leave the frozen VGG19 out: it is rebuilt from ``weights`` (80 MB saved per file)."""
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("vgg.")]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        if self.vgg is not None:
            state.update({f"vgg.{k}": v for k, v in self.vgg.state_dict().items()})
        if self.image is None and "image" in state:
            self.image = nn.Parameter(torch.empty_like(state["image"]))
