"""NNST-Opt (Kolkin et al. 2022, "Neural Neighbor Style Transfer"): the target is the photo's
hypercolumns with each vector replaced by its nearest style vector, and the image is optimised
towards it by cosine distance. Content and style in one term: the photo decides where each
style feature goes, the painting which features there are."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nst.errors import ConfigError
from nst.objective.losses.common import full_precision
from nst.objective.losses.hypercolumn import check_layers, cosine_distances, dense_hypercolumns, weighted_mean
from nst.objective.losses.registry import register_style_loss

# NNST's VGG16 taps (conv1_1 ... conv4_3 after their ReLUs; it drops block 5) by name in VGG19
NNST_LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3",
               "relu4_1", "relu4_2", "relu4_3")
# NNST divides each layer by its channel count so that wide layers do not rule the cosine
NNST_LAYER_WEIGHTS = {name: 1.0 / c for name, c in zip(NNST_LAYERS, (64, 64, 128, 128, 256, 256, 256, 512, 512, 512))}


def grid_of(features: dict[str, torch.Tensor], layers: dict[str, float], scale: int) -> tuple[int, int]:
    """The hypercolumn grid: the largest map among ``layers`` divided by ``scale`` (NNST: 4)."""
    h = max(features[n].shape[-2] for n in layers)
    w = max(features[n].shape[-1] for n in layers)
    return max(1, h // scale), max(1, w // scale)


def flat(hyper: torch.Tensor) -> torch.Tensor:
    """1 x C x h x w -> (h w) x C."""
    return hyper[0].flatten(1).t()


def nearest_neighbours(source: torch.Tensor, reference: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """For each row of ``source`` (N x C) the index of the nearest row of ``reference`` (M x C)
    by centred cosine distance (each set minus its mean vector, as NNST), in chunks of rows."""
    source = source - source.mean(0, keepdim=True)
    reference = reference - reference.mean(0, keepdim=True)
    return torch.cat([cosine_distances(part, reference).argmin(-1) for part in source.split(chunk)])


def resized_guide(guide: Optional[torch.Tensor], size: tuple[int, int]) -> Optional[torch.Tensor]:
    return None if guide is None else F.interpolate(guide.float(), size=size, mode="area").flatten()


@register_style_loss("nnst", 1.2e9, default_layers=tuple(NNST_LAYER_WEIGHTS.items()))
class NeuralNeighbourLoss(nn.Module):
    """Mean over the grid of 1 - cos(h_p, t_p): h the image's hypercolumns on a grid of a
    ``scale``-th of the image (NNST: 4), t the photo's with each vector replaced by its nearest
    style vector (centred cosine). Needs the photo's features (``content_features``); set with
    the painting and photo at the stage's size. ``alpha`` is NNST's trade-off: the neighbours
    are searched again for (1 - alpha) x the photo's hypercolumns + alpha x the image's as they
    stand (NNST blends the two images) at the first step of every stage after the run's first
    step (NNST: at each scale but the coarsest) and, with ``refresh_every``, every so many
    steps; 0: the photo's only. A resumed run searches at its first step. Guides: a guided
    photo position takes its neighbour from the painting's guided region only, and counts by
    its guide weight."""

    hypercolumn = True
    needs_content = True

    def __init__(self, target_features: dict[str, torch.Tensor], layers: dict[str, float],
                 content_features: Optional[dict[str, torch.Tensor]] = None, scale: int = 4, chunk: int = 4096,
                 alpha: float = 0.0, refresh_every: Optional[int] = None,
                 target_guide: Optional[torch.Tensor] = None, input_guide: Optional[torch.Tensor] = None):
        super().__init__()
        if content_features is None:
            raise ConfigError("nnst's target is made from the photo's features. Fix: build it through StyleObjective")
        if scale < 1 or chunk < 1 or (refresh_every or 1) < 1:
            raise ConfigError(f"nnst scale, chunk and refresh_every must be >= 1, got {scale}, {chunk}, {refresh_every}. "
                              "Fix: style_loss_options: {scale: 4, refresh_every: null} (NNST's)")
        if not 0 <= alpha <= 1:
            raise ConfigError(f"nnst alpha must be in [0, 1] (0: the photo's neighbours, 1: the image's), got {alpha}. "
                              "Fix: style_loss_options: {alpha: 0.75} (NNST's)")
        check_layers(layers, target_features, "nnst")
        self.layers, self.scale, self.chunk = dict(layers), scale, chunk
        self.alpha, self.refresh_every = alpha, refresh_every
        self.step, self.searched_at = 0, None  # None: the photo's target, not yet used
        with torch.no_grad(), full_precision(next(iter(target_features.values()))):
            style = dense_hypercolumns(target_features, layers, grid_of(target_features, layers, scale))[:1]
            size = grid_of(content_features, layers, scale)
            photo = flat(dense_hypercolumns(content_features, layers, size)[:1])
            candidates = flat(style)
            if target_guide is not None:
                inside = resized_guide(target_guide, style.shape[-2:]) >= 0.5
                if not inside.any():
                    raise ConfigError("a style mask's region is empty. Fix: give each style mask a white area")
                candidates = candidates[inside]
            target = self.neighbours_of(photo, candidates, size)
        self.register_buffer("target", target, persistent=False)
        self.register_buffer("weights", resized_guide(input_guide, size), persistent=False)
        # kept only for the searches again (alpha > 0): the photo's hypercolumns and the candidates
        self.register_buffer("photo", photo if alpha else None, persistent=False)
        self.register_buffer("candidates", candidates if alpha else None, persistent=False)

    def neighbours_of(self, query: torch.Tensor, candidates: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(h w) x C query vectors -> 1 x C x h x w: each one's nearest candidate."""
        return candidates[nearest_neighbours(query, candidates, self.chunk)].t().reshape(1, -1, *size)

    def resample(self, step: int) -> None:
        self.step = step

    def due(self) -> bool:
        """Whether this step searches the neighbours again (the first use at step 0 keeps the photo's)."""
        if self.searched_at is None and self.step == 0:
            self.searched_at = 0
        if not self.alpha:
            return False
        if self.searched_at is None:
            return True
        return self.refresh_every is not None and self.step - self.searched_at >= self.refresh_every

    def search_again(self, hyper: torch.Tensor) -> None:
        """The neighbours of (1 - alpha) x the photo + alpha x the image's hypercolumns ``hyper``."""
        with torch.no_grad():
            query = (1 - self.alpha) * self.photo + self.alpha * flat(hyper.detach()[:1]).to(self.photo.dtype)
            self.target = self.neighbours_of(query, self.candidates, tuple(self.target.shape[-2:]))
        self.searched_at = self.step

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        with full_precision(self.target):
            hyper = dense_hypercolumns(features, self.layers, tuple(self.target.shape[-2:]))
            if self.due():
                self.search_again(hyper)
            distance = (1 - F.cosine_similarity(hyper, self.target, dim=1, eps=1e-8)).flatten(1)
            if self.weights is None:
                return distance.mean()
            return weighted_mean(distance, self.weights).mean()
