"""Content, style and total-variation losses, each a small module with its target as a buffer,
registered by name (``style_loss: gram``) so that a config can swap them."""

from __future__ import annotations

import torch
from torch import nn

from nst.losses.content import ContentLoss, CosineContentLoss
from nst.losses.gram import GramLoss, gram_matrix, pixel_gram
from nst.losses.guided import GuidedGramLoss
from nst.losses.mrf import MRFLoss
from nst.losses.registry import (
    CONTENT_LOSSES,
    STYLE_LOSSES,
    accepted_options,
    check_options,
    lookup,
    register_content_loss,
    register_style_loss,
)
from nst.losses.sliced import HistogramLoss, SlicedWassersteinLoss
from nst.losses.statistics import MeanStdLoss, Wasserstein2Loss
from nst.losses.tv import TVLoss

__all__ = [
    "CONTENT_LOSSES", "STYLE_LOSSES", "ContentLoss", "CosineContentLoss", "GramLoss", "GuidedGramLoss",
    "HistogramLoss", "LayerLosses", "MRFLoss", "MeanStdLoss", "SlicedWassersteinLoss", "TVLoss",
    "Wasserstein2Loss", "WeightedSum", "build_layer_losses", "gram_matrix", "pixel_gram",
    "register_content_loss", "register_style_loss",
]


class LayerLosses(nn.Module):
    """A weighted sum over layers: sum_l w_l * loss_l(features[l])."""

    def __init__(self, losses: dict[str, nn.Module], weights: dict[str, float]):
        super().__init__()
        self.losses = nn.ModuleDict(losses)
        self.weights = dict(weights)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.weights[name] * loss(features[name]) for name, loss in self.losses.items())


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
) -> LayerLosses:
    """One registered loss per layer, with the layer's target features. A loss that draws random
    numbers (it takes ``seed``) gets a different, reproducible seed per layer."""
    table = STYLE_LOSSES if kind == "style" else CONTENT_LOSSES
    entry = lookup(table, name, f"{kind}_loss")
    options = check_options(entry, options or {}, f"{kind}_loss")
    seeded = "seed" in accepted_options(entry) and "seed" not in options
    losses = {}
    for i, layer in enumerate(weights):
        layer_options = {**options, "seed": seed * 1000 + i} if seeded else options
        losses[layer] = entry.cls(features[layer], **layer_options)
    return LayerLosses(losses, weights)
