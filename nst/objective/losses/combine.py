"""Losses combined: one registered loss per layer, weighted over layers and over style images."""

from __future__ import annotations

import inspect
from typing import Optional

import torch
from torch import nn

from nst.errors import ConfigError
from nst.objective.losses.hypercolumn import Samplers
from nst.objective.losses.normalize import GradientNormalizer
from nst.objective.losses.registry import (
    CONTENT_LOSSES,
    STYLE_LOSSES,
    accepted_options,
    lookup,
)
from nst.seeds import derive_seed


class LayerLosses(nn.Module):
    """A weighted sum over layers: sum_l w_l * loss_l(features[l])."""

    def __init__(self, losses: dict[str, nn.Module], weights: dict[str, float], normalize_gradients: bool = False):
        super().__init__()
        self.losses = nn.ModuleDict(losses)
        self.weights = dict(weights)
        self.normalizers = nn.ModuleDict({n: GradientNormalizer() for n in losses}) if normalize_gradients else None

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.normalizers is None:
            return sum(self.weights[name] * loss(features[name]) for name, loss in self.losses.items())
        return sum(self.weights[name] * loss(self.normalizers[name](features[name]))
                   for name, loss in self.losses.items())


class WholeLoss(nn.Module):
    """A loss that reads all its layers at once (hypercolumns): the layer weights scale each
    layer inside it. ``losses``/``weights`` as :class:`LayerLosses` has them, for inspection."""

    def __init__(self, loss: nn.Module, weights: dict[str, float]):
        super().__init__()
        self.loss, self.weights = loss, {"hypercolumn": 1.0}
        self.layer_weights = dict(weights)

    @property
    def losses(self) -> dict[str, nn.Module]:
        return {"hypercolumn": self.loss}

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss(features)


class WeightedSum(nn.Module):
    """sum_i w_i * loss_i(features): several style images blended. For Gram (and any squared
    distance to a statistic) this has the gradient of one loss against the weighted average of
    the targets, jcjohnson's -style_blend_weights."""

    def __init__(self, losses: list[nn.Module], weights: list[float]):
        super().__init__()
        self.losses = nn.ModuleList(losses)
        self.weights = list(weights)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(w * loss(features) for w, loss in zip(self.weights, self.losses))


def build_layer_losses(
    kind: str,
    name: str,
    options: dict | None,
    features: dict[str, torch.Tensor],
    weights: dict[str, float],
    seed: int = 0,
    target_guide: Optional[torch.Tensor] = None,
    input_guide: Optional[torch.Tensor] = None,
    normalize_gradients: bool = False,
    samplers: Optional[Samplers] = None,
    content_features: Optional[dict[str, torch.Tensor]] = None,
) -> LayerLosses | WholeLoss:
    """One registered loss per layer, with the layer's target features (and guides, for the
    losses that take them). A loss that draws random numbers (it takes ``seed``) gets a
    different, reproducible seed per layer. ``options`` are checked once, by
    :class:`nst.objective.style_objective.LossDefinition`, not here for every pair.
    A hypercolumn loss is built once over all the layers, with the objective's ``samplers``
    (positions drawn from the run's seed) and, if it asks, the photo's ``content_features``."""
    table = STYLE_LOSSES if kind == "style" else CONTENT_LOSSES
    entry = lookup(table, name, f"{kind}_loss")
    options = dict(options or {})
    if input_guide is not None:
        if not entry.takes_guides:
            guided = sorted(n for n, e in table.items() if e.takes_guides)
            raise ConfigError(f"masks weight the style statistics, which {kind}_loss '{name}' does not "
                              f"take. Fix: {kind}_loss: one of {', '.join(guided)}, or no masks")
        options = {**options, "target_guide": target_guide, "input_guide": input_guide}
    if entry.hypercolumn:
        return build_whole_loss(entry, options, features, weights, seed, samplers, content_features,
                                normalize_gradients)
    seeded = "seed" in accepted_options(entry) and "seed" not in options
    losses = {}
    for i, layer in enumerate(weights):
        layer_options = {**options, "seed": derive_seed(seed, i)} if seeded else options
        losses[layer] = entry.cls(features[layer], **layer_options)
    return LayerLosses(losses, weights, normalize_gradients)


def build_whole_loss(entry, options: dict, features: dict, weights: dict[str, float], seed: int,
                     samplers: Optional[Samplers], content_features: Optional[dict],
                     normalize_gradients: bool) -> WholeLoss:
    name = entry.cls.registered_name
    if normalize_gradients:
        raise ConfigError(f"normalize_gradients rescales each layer's loss, and '{name}' is one loss over all "
                          f"its layers. Fix: normalize_gradients: false")
    if "seed" in accepted_options(entry) and "seed" not in options:
        options = {**options, "seed": seed}
    if "samplers" in inspect.signature(entry.cls.__init__).parameters:
        options = {**options, "samplers": samplers}
    if getattr(entry.cls, "needs_content", False):
        options = {**options, "content_features": content_features}
    return WholeLoss(entry.cls(features, weights, **options), weights)
