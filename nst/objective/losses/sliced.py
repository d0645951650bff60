"""Style as full feature distributions, compared along random 1-D projections."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from nst.errors import ConfigError
from nst.objective.losses.common import flatten, full_precision, resample_sorted, sorted_matching_loss
from nst.objective.losses.gram import GramLoss, GramNormalization
from nst.objective.losses.guides import inside, register_guides
from nst.objective.losses.registry import register_style_loss
from nst.seeds import derive_seed


def region(flat: torch.Tensor, features: torch.Tensor, guide: Optional[torch.Tensor]) -> torch.Tensor:
    """The B x C x (H W) features of the guided region (all of them without a guide)."""
    where = inside(guide, features)
    return flat if where is None else flat[..., where]


@register_style_loss("sliced_wasserstein", 1.6e3)
class SlicedWassersteinLoss(nn.Module):
    """Sliced Wasserstein-2: project the C-dimensional features of every pixel on ``projections``
    random unit directions, sort each projection over the pixels, and compare the sorted values
    (the 1-D optimal transport). New directions every training step (:meth:`resample`), drawn
    from ``seed`` and the step, so a run is reproducible.
    """

    def __init__(
        self,
        target_features: torch.Tensor,
        projections: int | None = None,
        seed: int = 0,
        fixed: bool = False,
        target_guide: Optional[torch.Tensor] = None,
        input_guide: Optional[torch.Tensor] = None,
    ):
        """``fixed``: the directions of step 0 for good (the evaluation metric); the raw target
        features are then dropped after sorting, halving the memory the loss holds. Guides: the
        distributions of the guided regions (guide >= 0.5: sorted values carry no weights)."""
        super().__init__()
        if projections is not None and projections < 1:
            raise ConfigError(f"sliced_wasserstein projections must be >= 1, got {projections}")
        self.channels = target_features.shape[1]
        self.projections = projections or self.channels
        self.seed = seed
        with full_precision(target_features):
            self.register_buffer("target", region(flatten(target_features.detach()), target_features, target_guide),
                                 persistent=False)
        register_guides(self, input_guide)
        self.register_buffer("directions", torch.empty(0), persistent=False)
        self.register_buffer("target_sorted", torch.empty(0), persistent=False)
        self.fixed = False
        self.resample(0)
        if fixed:
            self.fixed, self.target = True, torch.empty(0)

    def resample(self, step: int) -> None:
        """Draw the directions of ``step`` (the same for every closure call of one step)."""
        if self.fixed:
            return
        device = self.target.device  # drawn there: a CPU draw and a copy per layer per step would be a host sync
        generator = torch.Generator(device=device).manual_seed(derive_seed(self.seed, step))
        directions = torch.randn(self.channels, self.projections, generator=generator, device=device)
        directions = directions / directions.norm(dim=0, keepdim=True)
        self.directions = directions.to(dtype=self.target.dtype)
        with torch.no_grad():
            self.target_sorted = self._project(self.target).sort(dim=-1).values

    def _project(self, flat: torch.Tensor) -> torch.Tensor:
        return self.directions.to(flat.dtype).t() @ flat  # B x P x N

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with full_precision(features):
            flat = region(flatten(features), features, self.input_guide)
            return sorted_matching_loss(self._project(flat), self.target_sorted)


@register_style_loss("histogram", 5.5e-4)
class HistogramLoss(nn.Module):
    """Risser et al. 2017: Gram loss + ``histogram_weight`` x per-channel histogram loss.

    The histogram term is ||F - R||^2 (mean), with R the features remapped so that every channel
    has the style's histogram (exact matching by rank); Gram alone lets these drift.
    """

    def __init__(
        self,
        target_features: torch.Tensor,
        histogram_weight: float = 1e6,
        normalization: GramNormalization = "gatys",
        target_guide: Optional[torch.Tensor] = None,
        input_guide: Optional[torch.Tensor] = None,
    ):
        """Guides: the guided Gram matrices, and the histograms of the regions (guide >= 0.5)."""
        super().__init__()
        self.histogram_weight = histogram_weight
        self.gram = GramLoss(target_features, normalization, target_guide, input_guide)
        with full_precision(target_features):
            target = region(flatten(target_features.detach()), target_features, target_guide).sort(dim=-1).values
        self.register_buffer("target_sorted", target, persistent=False)
        self._resampled: torch.Tensor | None = None  # target_sorted at the last pixel count seen

    def target_at(self, n: int) -> torch.Tensor:
        """The target's quantiles at ``n`` pixels, kept while ``n`` stays (every step of a training
        run at one crop size: the interpolation was 6 % of a step, measured)."""
        cached = self._resampled
        if cached is None or cached.shape[-1] != n or cached.device != self.target_sorted.device:
            cached = self._resampled = resample_sorted(self.target_sorted, n)
        return cached

    def histogram(self, features: torch.Tensor) -> torch.Tensor:
        with full_precision(features):
            flat = region(flatten(features), features, self.gram.input_guide)
            return sorted_matching_loss(flat, self.target_at(flat.shape[-1]))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.gram(features) + self.histogram_weight * self.histogram(features)
