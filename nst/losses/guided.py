"""Spatial control (Gatys et al. 2017): guided Gram matrices restrict a style to a region."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nst.losses.common import flatten, full_precision


def resize_mask(mask: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """A 1x1xHxW mask in [0, 1] averaged down to the feature map's resolution."""
    return F.adaptive_avg_pool2d(mask.to(features.device, torch.float32), features.shape[-2:])


def masked_pixel_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(F m)(F m)^T / sum(m^2): the per-pixel Gram matrix of the masked region."""
    with full_precision(features):
        f = flatten(features) * mask.reshape(1, 1, -1).to(features.device)
        mass = mask.pow(2).sum().clamp(min=1e-8)
        return torch.bmm(f, f.transpose(1, 2)) / mass


class GuidedGramLoss(nn.Module):
    """Gatys' Gram loss (``gatys`` normalisation) between the region ``mask`` of the generated
    image and the region ``target_mask`` of the style image; zero gradient outside ``mask``."""

    def __init__(self, target_features: torch.Tensor, target_mask: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        target_mask = resize_mask(target_mask, target_features)
        self.register_buffer(
            "target", masked_pixel_gram(target_features.detach(), target_mask), persistent=False
        )
        self.register_buffer("mask", mask.float(), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        c = features.shape[1]
        diff = masked_pixel_gram(features, resize_mask(self.mask, features)) - self.target
        return (diff / c).pow(2).sum(dim=(1, 2)).mean()
