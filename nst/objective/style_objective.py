"""The style-transfer objective of one pair, as a plain module (no Lightning):

    total(x) = α · content(x) + β · style(x) + γ · tv(x)

``content`` and ``style`` compare VGG19 features of the image ``x`` with targets computed once
from the pair's photo and painting(s); ``style`` blends several paintings and may be guided
by masks; per-layer weights are part of each term. Anything that optimises pixels (the
LightningModule, a benchmark, a tiled or video renderer) calls this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from nst.objective.network.features import VGGFeatures
from nst.objective.network.layers import LayerWeights, parse_layer_weights
from nst.errors import ConfigError
from nst.objective.losses import (
    CONTENT_LOSSES,
    STYLE_LOSSES,
    Samplers,
    TVLoss,
    WeightedSum,
    build_layer_losses,
    check_options,
    lookup,
)
from nst.seeds import derive_seed
from nst.objective.tiles import Tiling
from nst.objective.tiling import TiledObjective, check_tileable

GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True)
class LossDefinition:
    """Which losses, with which options, on which layers: the definition of content and style."""

    content_loss: str
    content_loss_options: dict
    style_loss: str
    style_loss_options: dict
    content_layers: dict[str, float]
    style_layers: dict[str, float]
    tv_p: int = 2
    normalize_gradients: bool = False  # jcjohnson's: each layer loss's gradient L1-normalised

    @classmethod
    def from_config(cls, content_loss: str = "mse", content_loss_options: Optional[dict] = None,
                    style_loss: str = "gram", style_loss_options: Optional[dict] = None,
                    content_layers: Optional[LayerWeights] = ("relu4_2",), style_layers: Optional[LayerWeights] = None,
                    tv_p: int = 2, normalize_gradients: bool = False) -> LossDefinition:
        """Check names and options; ``style_layers=None`` (``content_layers=None``): the loss's own
        default layers."""
        content_entry = lookup(CONTENT_LOSSES, content_loss, "content_loss")
        style_entry = lookup(STYLE_LOSSES, style_loss, "style_loss")
        content_options = check_options(content_entry, content_loss_options or {}, "content_loss")
        style_options = check_options(style_entry, style_loss_options or {}, "style_loss")
        if style_layers is None:
            style_layers = style_entry.default_layers or GATYS_STYLE_LAYERS
        if content_layers is None:
            content_layers = content_entry.default_layers or ("relu4_2",)
        return cls(content_loss, content_options, style_loss, style_options,
                   parse_layer_weights(content_layers, "content_layers"),
                   parse_layer_weights(style_layers, "style_layers"), tv_p, normalize_gradients)

    @property
    def layers(self) -> list[str]:
        """Every VGG19 layer the losses read."""
        return [*self.content_layers, *self.style_layers]

    def default_weights(self) -> tuple[float, float]:
        """(α, β) the losses were calibrated with (``bench/calibrate_losses.py``)."""
        return CONTENT_LOSSES[self.content_loss].default_weight, STYLE_LOSSES[self.style_loss].default_weight


def check_video(definition: LossDefinition) -> None:
    """A video changes the photo every frame; only the content term follows it (``retarget``)."""
    if STYLE_LOSSES[definition.style_loss].needs_content:
        raise ConfigError(f"style_loss '{definition.style_loss}' takes its target from the photo, which changes "
                          f"every frame of a video. Fix: a style_loss of the painting alone (e.g. relaxed_emd)")


@dataclass(frozen=True)
class LossWeights:
    """α, β, γ of ``total = α content + β style + γ tv``, and for a video frame after the
    first the weight of its temporal term (``+ temporal · temporal``)."""

    content: float
    style: float
    tv: float = 0.0
    temporal: float = 0.0

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        total = self.content * terms["content"] + self.style * terms["style"]
        total = total + self.tv * terms["tv"] if self.tv else total
        return total + self.temporal * terms["temporal"] if "temporal" in terms else total


class StyleObjective(nn.Module):
    """Maps an image batch (or its VGG features) to its named losses for one pair.

    The targets are buffers of the content/style loss modules; ``vgg`` is the caller's network. ``terms`` returns the unweighted ``content``, ``style`` and ``tv``;
    ``forward`` adds ``total``."""

    def __init__(self, vgg: VGGFeatures, content: nn.Module, style: nn.Module, tv: TVLoss, weights: LossWeights,
                 tiling: Optional[Tiling] = None):
        super().__init__()
        self.vgg = vgg  # the caller's network (one for every pair), not a copy
        self.content, self.style, self.tv = content, style, tv
        self.weights = weights
        self.temporal: Optional[nn.Module] = None  # a video frame's TemporalLoss (nst.model.temporal)
        self.tiled = TiledObjective(self, tiling) if tiling is not None else None
        self.samplers = Samplers(0)  # build() gives the run's: shared by the hypercolumn losses

    @classmethod
    def build(cls, vgg: VGGFeatures, definition: LossDefinition, content: torch.Tensor,
              styles: tuple[torch.Tensor, ...], weights: LossWeights, blend: Optional[dict[int, float]] = None,
              masks: Optional[list[tuple[torch.Tensor, torch.Tensor]]] = None, seed: int = 0,
              tiling: Optional[Tiling] = None) -> StyleObjective:
        """Targets from the photo ``content`` and the paintings ``styles`` (1x3xHxW in [0, 1]):
        ``blend`` weights the paintings ({index: weight}, default equal); ``masks`` holds one
        (guide over the painting, guide over the photo) per painting. With a ``tiling`` that
        applies to the photo, the targets are gathered tile by tile too (``nst.objective.tiling``)."""
        device = vgg.mean.device
        blend = blend or {i: 1 / len(styles) for i in range(len(styles))}
        d = definition
        tiling = tiling if tiling is not None and tiling.applies(content) else None
        samplers = Samplers(seed)  # hypercolumn losses: the content and style terms share positions
        if tiling is None:
            with torch.no_grad():
                content_features = vgg(content.to(device))
                style_features = [vgg(styles[s].to(device)) for s in blend]
        else:
            check_tileable(d.style_loss, d.content_loss)
            content_features = tiling.features(content.to(device), d.content_layers)
            style_features = [tiling.moments(styles[s].to(device), d.style_layers,
                                             masks[s][0].to(device) if masks is not None else None) for s in blend]
        content_loss = build_layer_losses("content", d.content_loss, d.content_loss_options, content_features,
                                          d.content_layers, seed, normalize_gradients=d.normalize_gradients,
                                          samplers=samplers)
        per_style = []
        for s, features in zip(blend, style_features):
            guides = [m.to(device) for m in masks[s]] if masks is not None else (None, None)
            per_style.append(build_layer_losses("style", d.style_loss, d.style_loss_options, features,
                                                d.style_layers, derive_seed(seed, s), *guides,
                                                normalize_gradients=d.normalize_gradients, samplers=samplers,
                                                content_features=content_features))
        objective = cls(vgg, content_loss, WeightedSum(per_style, list(blend.values())), TVLoss(d.tv_p), weights,
                        tiling)
        objective.samplers = samplers
        return objective

    def terms(self, features: dict[str, torch.Tensor], image: torch.Tensor, tv: bool = True) -> dict:
        """Unweighted losses from ``features = vgg(image)``. TV costs a pass over the pixels:
        with ``tv=False`` and γ = 0 it is left out (zero)."""
        out = {"content": self.content(features), "style": self.style(features)}
        if self.weights.tv:
            out["tv"] = self.tv(image)
        elif tv:
            with torch.no_grad():
                out["tv"] = self.tv(image)
        else:
            out["tv"] = image.new_zeros(())
        if self.temporal is not None:
            out["temporal"] = self.temporal(image)
        return out

    def retarget(self, definition: LossDefinition, content: torch.Tensor, seed: int = 0) -> None:
        """A new photo for the content term (the next frame of a video), gathered tile by tile
        where the objective is tiled; the style targets stay."""
        d = definition
        content = content.to(self.vgg.mean.device)
        if self.tiles(content):
            features = self.tiled.tiling.features(content, d.content_layers)
        else:
            with torch.no_grad():
                features = self.vgg(content)
        loss_scale = next((m.loss_scale for m in self.content.modules() if hasattr(m, "loss_scale")), None)
        self.content = build_layer_losses("content", d.content_loss, d.content_loss_options, features,
                                          d.content_layers, seed, normalize_gradients=d.normalize_gradients,
                                          samplers=self.samplers)
        for normalizer in self.content.modules():  # under 16-mixed: the loss scale they follow
            if hasattr(normalizer, "loss_scale"):
                normalizer.loss_scale = loss_scale

    def tiles(self, image: torch.Tensor) -> bool:
        """Whether ``image`` is computed tile by tile (a tiling larger images than one tile)."""
        return self.tiled is not None and self.tiled.tiling.applies(image)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = self.tiled.terms(image) if self.tiles(image) else self.terms(self.vgg(image), image)
        return {**terms, "total": self.weights.total(terms)}

    def resample(self, step: int) -> None:
        """Losses that draw random numbers (sliced Wasserstein) draw step ``step``'s; a tiling
        moves its grid."""
        if self.tiled is not None:
            self.tiled.step = step
        for module in self.modules():
            if module is not self and hasattr(module, "resample"):
                module.resample(step)

    def style_content_ratio(self, image: torch.Tensor) -> float:
        """||∇ style|| / ||∇ content|| (unweighted) at ``image``: Adam ignores a common scale,
        so this ratio, times β/α, is what sets the look."""
        image = image.detach().requires_grad_(True)
        if self.tiles(image):
            terms = self.tiled.terms(image)
            losses = [terms["style"], terms["content"]]
        else:
            features = self.vgg(image)
            losses = [self.style(features), self.content(features)]
        norms = [torch.autograd.grad(loss, image, retain_graph=True)[0].norm() for loss in losses]
        return float(norms[0] / norms[1].clamp(min=1e-30))
