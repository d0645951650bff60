"""Guides (Gatys et al. 2017 spatial control; pystiche's ``input_guide``/``target_guide``): a
mask in [0, 1] over an image that weights each pixel's contribution to a loss's feature
statistics. A loss that takes guides restricts its statistics to the guided region of the
generated image (``input_guide``) and of the style image (``target_guide``): a pixel of weight
m counts with weight m^2, as in the guided Gram matrix (F m)(F m)^T / sum(m^2)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from nst.errors import ConfigError
from nst.objective.losses.common import flatten


def resize_guide(guide: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """A 1x1xHxW guide averaged down to the feature map's resolution."""
    return F.adaptive_avg_pool2d(guide.to(features.device, torch.float32), features.shape[-2:])


def guided_flatten(features: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(F m as B x C x N, sum of m^2): the guided features and the mass of the region."""
    m = resize_guide(guide, features).reshape(1, 1, -1)
    return flatten(features) * m, m.pow(2).sum().clamp(min=1e-8)


def guided_centred(features: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features minus their guided mean, times m, as B x C x N; the mean, B x C; sum of m^2):
    what the guided moments are made of."""
    m = resize_guide(guide, features).reshape(1, 1, -1)
    mass = m.pow(2).sum().clamp(min=1e-8)
    f = flatten(features)
    mean = (f * m.pow(2)).sum(-1, keepdim=True) / mass
    return (f - mean) * m, mean.squeeze(-1), mass


def guided_mean_var(features: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel mean and variance (B x C each) over pixels weighted by m^2."""
    centred, mean, mass = guided_centred(features, guide)
    return mean, centred.pow(2).sum(-1) / mass


def guided_mean_cov(features: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel mean (B x C) and covariance (B x C x C) over pixels weighted by m^2."""
    centred, mean, mass = guided_centred(features, guide)
    return mean, centred @ centred.transpose(1, 2) / mass


def inside(guide: Optional[torch.Tensor], features: torch.Tensor, threshold: float = 0.5) -> Optional[torch.Tensor]:
    """The flat (H W) positions of the feature map where the guide is at least ``threshold``:
    the region of a loss that compares sorted values or nearest patches, which have no weights
    to give a pixel (``None``: unguided, every position). An empty region is an error."""
    if guide is None:
        return None
    where = (resize_guide(guide, features).flatten() >= threshold).nonzero()[:, 0]
    if len(where) == 0:
        raise ConfigError("a mask's region vanishes at a style layer's resolution. Fix: a larger white area "
                          "in the mask, or shallower style_layers")
    return where.to(features.device)


def patch_inside(guide: Optional[torch.Tensor], features: torch.Tensor, size: int, stride: int,
                 threshold: float = 0.5) -> Optional[torch.Tensor]:
    """The patches (in ``F.unfold`` order) more than ``threshold`` inside the guide (mean guide)."""
    if guide is None:
        return None
    patches = F.unfold(resize_guide(guide, features), kernel_size=size, stride=stride).mean(1).flatten()
    where = (patches > threshold).nonzero()[:, 0]
    if len(where) == 0:
        raise ConfigError("a mask's region holds no whole patch at a style layer. Fix: a larger white area "
                          "in the mask, or a smaller patch_size")
    return where.to(features.device)


def register_guides(module: torch.nn.Module, input_guide: Optional[torch.Tensor]) -> None:
    """Keep the input guide as a buffer (``None``: unguided)."""
    guide = None if input_guide is None else input_guide.detach().float()
    module.register_buffer("input_guide", guide, persistent=False)
