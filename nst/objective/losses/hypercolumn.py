"""Hypercolumns (Hariharan et al.; STROTSS, NNST): the features of several layers read at the
same image positions and stacked into one vector per position, each layer scaled by its layer
weight. Sampled at random positions (STROTSS) or on a regular grid (NNST).

The positions are drawn by a :class:`HypercolumnSampler` from the run's seed and the step
(``resample``), one sampler per objective and sample count, so the content and style losses of
a step read the same positions and a resumed run draws what the uninterrupted one drew."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nst.errors import ConfigError
from nst.objective.losses.common import full_precision, upcast
from nst.seeds import derive_seed


def random_positions(samples: int, seed: int) -> torch.Tensor:
    """``samples`` x 2 positions, uniform over the image, in grid_sample's [-1, 1] (x, y)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.rand(samples, 2, generator=generator) * 2 - 1


def read_at(feature_map: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """B x C x H x W read bilinearly at N positions -> B x N x C (at least float32)."""
    grid = positions.to(feature_map.device, torch.float32).view(1, 1, -1, 2)
    grid = grid.expand(feature_map.shape[0], -1, -1, -1)
    sampled = F.grid_sample(upcast(feature_map), grid.to(upcast(feature_map).dtype), mode="bilinear",
                            padding_mode="border", align_corners=False)
    return sampled[:, :, 0].transpose(1, 2)


def hypercolumns(features: dict[str, torch.Tensor], layers: dict[str, float], positions: torch.Tensor) -> torch.Tensor:
    """The hypercolumns (B x N x sum C_l) at ``positions``: layer l's features times its weight."""
    with full_precision(next(iter(features.values()))):
        return torch.cat([read_at(features[name], positions) * weight for name, weight in layers.items()], dim=-1)


def dense_hypercolumns(features: dict[str, torch.Tensor], layers: dict[str, float], size: tuple[int, int]) -> torch.Tensor:
    """Hypercolumns on a ``size`` grid (NNST: a quarter of the image): every layer resized
    bilinearly to it and stacked, B x (sum C_l) x h x w."""
    with full_precision(next(iter(features.values()))):
        return torch.cat([F.interpolate(upcast(features[name]), size=size, mode="bilinear", align_corners=False)
                          * weight for name, weight in layers.items()], dim=1)


def cosine_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """... x N x C, ... x M x C -> ... x N x M matrix of 1 - cos."""
    x = x / x.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    y = y / y.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    return 1 - x @ y.transpose(-1, -2)


class HypercolumnSampler(nn.Module):
    """``samples`` random positions over the generated image, new each step (``resample``),
    drawn from ``seed`` and the step only."""

    def __init__(self, samples: int = 1024, seed: int = 0):
        super().__init__()
        if samples < 2:
            raise ConfigError(f"hypercolumn samples must be >= 2, got {samples}. Fix: samples: 1024 (STROTSS's)")
        self.samples, self.seed = samples, seed
        self.register_buffer("positions", random_positions(samples, derive_seed(seed, 0)), persistent=False)

    def resample(self, step: int) -> None:
        self.positions = random_positions(self.samples, derive_seed(self.seed, step)).to(self.positions.device)


class Samplers:
    """One objective's samplers by sample count, all drawing from the run's ``seed``: the content
    and style losses of the objective share them (the same positions in one step)."""

    def __init__(self, seed: int = 0):
        self.seed, self.made = seed, {}

    def get(self, samples: int) -> HypercolumnSampler:
        if samples not in self.made:
            self.made[samples] = HypercolumnSampler(samples, self.seed)
        return self.made[samples]


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """B x N values -> B means, each point counted by its weight (N, in [0, 1])."""
    return (values * weights).sum(-1) / weights.sum().clamp(min=1e-8)


def guide_at(guide: Optional[torch.Tensor], positions: torch.Tensor) -> Optional[torch.Tensor]:
    """A 1 x 1 x H x W guide read at the positions: N weights in [0, 1] (``None``: unguided)."""
    if guide is None:
        return None
    return read_at(guide.float(), positions)[0, :, 0].clamp(0, 1)


def guided_positions(samples: int, seed: int, guide: Optional[torch.Tensor]) -> torch.Tensor:
    """``samples`` random positions, inside the guide's region (weight >= 0.5) when one is given:
    the style samples of a guided loss come from the guided part of the painting."""
    if guide is None:
        return random_positions(samples, seed)
    candidates = random_positions(samples * 16, seed)
    inside = candidates[guide_at(guide.cpu(), candidates) >= 0.5]
    if len(inside) < 2:
        raise ConfigError("a style mask's region is (almost) empty. Fix: give each style mask a white area")
    return inside[:samples]


def check_layers(layers: dict[str, float], features: dict[str, torch.Tensor], what: str) -> None:
    missing = [name for name in layers if name not in features]
    if missing:
        raise ConfigError(f"{what}: no features of {', '.join(missing)}. Fix: list them in the loss's layers")
