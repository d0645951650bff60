"""STROTSS (Kolkin, Salavon & Shakhnarovich, CVPR 2019) on hypercolumns at sampled positions:
content as self-similarity, style as a relaxed earth mover's distance plus moments and colour.

Both read the hypercolumns at the objective's shared sampled positions (``hypercolumn``)."""

from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import nn

from nst.errors import ConfigError
from nst.media.color import RGB_TO_YIQ
from nst.objective.losses.common import full_precision, upcast
from nst.objective.losses.hypercolumn import (
    Samplers,
    check_layers,
    cosine_distances,
    guide_at,
    guided_positions,
    hypercolumns,
    read_at,
    weighted_mean,
)
from nst.objective.losses.registry import register_content_loss, register_style_loss
from nst.objective.network.layers import RGB
from nst.seeds import derive_seed

# STROTSS's VGG16 taps (conv1_1 ... conv5_3 after their ReLUs) by name in VGG19, after the pixels
STROTSS_LAYERS = (RGB, "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3",
                  "relu4_3", "relu5_3")


def self_similarity(x: torch.Tensor) -> torch.Tensor:
    """B x N x C -> B x N x N cosine distances between the positions, each column divided by its
    sum (STROTSS's normalisation: only the relative layout of a position's distances counts)."""
    d = cosine_distances(x, x)
    return d / d.sum(dim=-2, keepdim=True).clamp(min=1e-8)


class FeatureTargets(nn.Module):
    """A loss's target feature maps, one buffer per layer (positions are read from them anew
    each step)."""

    def __init__(self, features: dict[str, torch.Tensor], layers: dict[str, float]):
        super().__init__()
        self.names = list(layers)
        for i, name in enumerate(self.names):
            self.register_buffer(f"layer{i}", upcast(features[name].detach()), persistent=False)

    def maps(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"layer{i}") for i, name in enumerate(self.names)}


@register_content_loss("self_similarity", 1.7e6, default_layers=STROTSS_LAYERS[1:])
class SelfSimilarityLoss(nn.Module):
    """STROTSS's content loss: mean |D_x - D_c| x N over the N x N normalised self-similarity
    matrices (:func:`self_similarity`) of the image's and the photo's hypercolumns at the same N
    sampled positions: the photo's layout of similar and dissimilar places, not its features."""

    hypercolumn = True

    def __init__(self, target_features: dict[str, torch.Tensor], layers: dict[str, float],
                 samplers: Optional[Samplers] = None, samples: int = 1024, seed: int = 0):
        super().__init__()
        check_layers(layers, target_features, "self_similarity")
        self.layers = dict(layers)
        self.targets = FeatureTargets(target_features, layers)
        self.sampler = (samplers or Samplers(seed)).get(samples)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        positions = self.sampler.positions
        with full_precision(positions):
            x = hypercolumns(features, self.layers, positions)
            with torch.no_grad():
                c = hypercolumns(self.targets.maps(), self.layers, positions)
            return (self_similarity(x) - self_similarity(c)).abs().mean() * x.shape[1]


def relaxed_emd(cost: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """max(mean_i min_j C_ij, mean_j min_i C_ij) of a B x N x M cost matrix (the relaxed EMD:
    each side's points move to their nearest point of the other side). ``weights`` (N, in
    [0, 1]): the image's points count by weight and, outside the region, are no one's nearest."""
    if weights is None:
        return torch.maximum(cost.min(-1).values.mean(-1), cost.min(-2).values.mean(-1)).mean()
    w = weights.view(1, -1)
    to_style = weighted_mean(cost.min(-1).values, w)
    beyond = cost.detach().amax() + 1  # more than any cost (the colour cost adds a Euclidean distance to the cosine)
    from_style = (cost + beyond * (1 - w).unsqueeze(-1)).min(-2).values.mean(-1)
    return torch.maximum(to_style, from_style).mean()


def moments_of(x: torch.Tensor, weights: Optional[torch.Tensor], covariance: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (B x C) and covariance (B x C x C) or variance (B x C) of the points, weighted."""
    w = torch.ones(x.shape[1], device=x.device, dtype=x.dtype) if weights is None else weights.to(x.dtype)
    w = (w / w.sum().clamp(min=1e-8)).view(1, -1, 1)
    mean = (x * w).sum(1)
    centred = x - mean.unsqueeze(1)
    if covariance:
        return mean, (centred * w).transpose(1, 2) @ centred
    return mean, (centred.pow(2) * w).sum(1)


def yuv(rgb: torch.Tensor) -> torch.Tensor:
    """... x 3 RGB -> luminance and two chroma coordinates (YIQ, a rotation of STROTSS's YUV)."""
    return rgb @ RGB_TO_YIQ.to(rgb.device, rgb.dtype).t()


@register_style_loss("relaxed_emd", 3.5e8, default_layers=STROTSS_LAYERS)
class RelaxedEMDLoss(nn.Module):
    """STROTSS's style loss on hypercolumns: relaxed EMD (cosine distance) between the image's
    ``samples`` sampled hypercolumns and ``style_samples`` of the painting's (drawn once, from
    ``seed``), + ``moment_weight`` x (mean |mu - mu_s| + mean |Sigma - Sigma_s|) (``moments``:
    ``mean_cov`` the paper's, ``mean_var`` the diagonal only, much cheaper, ``none``),
    + ``color_weight`` x the relaxed EMD of the pixels' colours (cost: cosine + Euclidean
    distance in YUV; needs the ``rgb`` layer). The moments are of the hypercolumns divided by
    ``feature_scale``: the cosine terms ignore the features' scale, the moments do not, and
    STROTSS's torchvision-normalised VGG16 features are about 58x smaller than caffe VGG19's
    (255 / (1 / 0.226)): the default 58 keeps the paper's balance with those (caffe) weights.
    Guides: the painting's samples come from its guided region, the image's count by their
    guide weight."""

    hypercolumn = True

    def __init__(self, target_features: dict[str, torch.Tensor], layers: dict[str, float],
                 samplers: Optional[Samplers] = None, samples: int = 1024, style_samples: int = 1024,
                 moments: Literal["mean_cov", "mean_var", "none"] = "mean_cov", moment_weight: float = 1.0,
                 color_weight: float = 0.125, feature_scale: float = 58.0, seed: int = 0,
                 target_guide: Optional[torch.Tensor] = None, input_guide: Optional[torch.Tensor] = None):
        super().__init__()
        check_layers(layers, target_features, "relaxed_emd")
        if color_weight and RGB not in layers:
            raise ConfigError("relaxed_emd's colour term reads the pixels. Fix: add rgb to style_layers, "
                              "or style_loss_options: {color_weight: 0}")
        if feature_scale <= 0:
            raise ConfigError(f"relaxed_emd feature_scale must be > 0, got {feature_scale}")
        if style_samples < 2:
            raise ConfigError(f"relaxed_emd style_samples must be >= 2, got {style_samples}")
        self.layers, self.moments = dict(layers), moments
        self.moment_weight, self.color_weight, self.feature_scale = moment_weight, color_weight, feature_scale
        self.sampler = (samplers or Samplers(seed)).get(samples)
        positions = guided_positions(style_samples, derive_seed(seed, 1), target_guide)
        with torch.no_grad(), full_precision(positions):
            target = hypercolumns(target_features, self.layers, positions)[:1]
            mean, spread = moments_of(target / feature_scale, None, moments == "mean_cov")
            rgb = yuv(read_at(target_features[RGB], positions)[:1]) if color_weight else torch.empty(0)
        self.register_buffer("target", target, persistent=False)
        self.register_buffer("target_mean", mean, persistent=False)
        self.register_buffer("target_spread", spread, persistent=False)
        self.register_buffer("target_yuv", rgb, persistent=False)
        self.register_buffer("input_guide", None if input_guide is None else input_guide.detach().float(),
                             persistent=False)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        positions = self.sampler.positions
        weights = guide_at(self.input_guide, positions)
        with full_precision(positions):
            x = hypercolumns(features, self.layers, positions)
            loss = relaxed_emd(cosine_distances(x, self.target), weights)
            if self.moments != "none" and self.moment_weight:
                mean, spread = moments_of(x / self.feature_scale, weights, self.moments == "mean_cov")
                moment = (mean - self.target_mean).abs().mean() + (spread - self.target_spread).abs().mean()
                loss = loss + self.moment_weight * moment
            if self.color_weight:
                colours = yuv(read_at(features[RGB], positions))
                cost = cosine_distances(colours, self.target_yuv) + torch.cdist(colours, self.target_yuv.expand(
                    colours.shape[0], -1, -1))
                loss = loss + self.color_weight * relaxed_emd(cost, weights)
            return loss
