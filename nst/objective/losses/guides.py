"""Guides (Gatys et al. 2017 spatial control; pystiche's ``input_guide``/``target_guide``): a
mask in [0, 1] over an image that weights each pixel's contribution to a loss's feature
statistics. A loss that takes guides restricts its statistics to the guided region of the
generated image (``input_guide``) and of the style image (``target_guide``): a pixel of weight
m counts with weight m^2, as in the guided Gram matrix (F m)(F m)^T / sum(m^2)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

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


def register_guides(module: torch.nn.Module, input_guide: Optional[torch.Tensor]) -> None:
    """Keep the input guide as a buffer (``None``: unguided)."""
    guide = None if input_guide is None else input_guide.detach().float()
    module.register_buffer("input_guide", guide, persistent=False)
