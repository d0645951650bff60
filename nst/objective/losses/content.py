"""Content losses: how far the generated image's features are from the photo's."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nst.objective.losses.common import full_precision, upcast
from nst.objective.losses.registry import register_content_loss


@register_content_loss("mse", 1.0)
class ContentLoss(nn.Module):
    """Squared feature difference S = sum (F - P)^2, normalised:

    ``mean``: S / (C H W) (default; independent of the image size); ``gatys``: S / 2;
    ``coursera``: S / (4 nH nW nC) (the seeds' J_content); ``none``: S.
    """

    def __init__(self, target: torch.Tensor, normalization: Literal["mean", "gatys", "coursera", "none"] = "mean"):
        super().__init__()
        self.normalization = normalization
        self.register_buffer("target", upcast(target.detach()), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with full_precision(features):
            squared = (upcast(features) - self.target).pow(2)
            b = features.shape[0]
            if self.normalization == "mean":
                return squared.mean()
            total = squared.sum() / b
            if self.normalization == "gatys":
                return total / 2
            if self.normalization == "coursera":
                return total / (4 * features[0].numel())
            return total

    def partial(self, features: torch.Tensor, where: tuple[slice, slice]) -> torch.Tensor:
        """The share of the loss of the pixels ``where`` (rows, columns of the target) whose
        features are given: the shares of disjoint parts add up to the loss (``nst.objective.tiling``)."""
        with full_precision(features):
            total = (upcast(features) - self.target[..., where[0], where[1]]).pow(2).sum()
            if self.normalization == "mean":
                return total / self.target.numel()
            total = total / features.shape[0]
            if self.normalization == "gatys":
                return total / 2
            if self.normalization == "coursera":
                return total / (4 * self.target[0].numel())
            return total


@register_content_loss("cosine", 1.7e6)
class CosineContentLoss(nn.Module):
    """Mean over pixels of 1 - cos(F_p, P_p): the direction of each pixel's C-dim feature
    vector must match the photo's, whatever its length (no Gram matrix, no magnitude)."""

    def __init__(self, target: torch.Tensor, eps: float = 1e-8):
        super().__init__()
        self.eps = eps
        self.register_buffer("target", upcast(target.detach()), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with full_precision(features):
            cos = F.cosine_similarity(upcast(features), self.target, dim=1, eps=self.eps)
            return (1 - cos).mean()

    def partial(self, features: torch.Tensor, where: tuple[slice, slice]) -> torch.Tensor:
        """The share of the pixels ``where`` (see :meth:`ContentLoss.partial`)."""
        with full_precision(features):
            target = self.target[..., where[0], where[1]]
            cos = F.cosine_similarity(upcast(features), target, dim=1, eps=self.eps)
            return (1 - cos).sum() * self.target.shape[1] / self.target.numel()
