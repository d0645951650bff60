"""Feature moments that add up over parts of an image: what a moment-based style loss
(``gram``, ``mean_std``, ``wasserstein2``) needs of the whole image, gathered tile by tile.

For features f_p (C channels) at pixels p with weights w_p (m_p^2 under a guide m, else 1):
mass = sum w_p, first = sum w_p f_p, second = sum w_p f_p f_p^T. The Gram matrix per pixel is
second / mass, the mean first / mass, the covariance second / mass - mean mean^T. A loss with a
``from_moments(moments)`` method computes its value from these alone, so the value over tiles
equals the value over the whole image and its gradient with respect to the moments tells each
tile what to do (``nst.objective.tiling``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from nst.objective.losses.common import flatten, full_precision


@dataclass
class Moments:
    """Sums over pixels, per image of a batch: ``mass`` B, ``first`` B x C, ``second`` B x C x C,
    and ``pixels``, the number of pixels summed over (the mass without weights)."""

    mass: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor
    pixels: int

    @classmethod
    def of(cls, features: torch.Tensor, weight: Optional[torch.Tensor] = None) -> Moments:
        """The moments of B x C x H x W ``features``; ``weight``: 1 x 1 x H x W pixel weights."""
        with full_precision(features):
            f = flatten(features)
            if weight is None:
                mass = f.new_full((f.shape[0],), float(f.shape[-1]))
                return cls(mass, f.sum(-1), torch.bmm(f, f.transpose(1, 2)), f.shape[-1])
            w = weight.to(f.dtype).reshape(1, 1, -1)
            fw = f * w
            mass = w.sum().expand(f.shape[0]).clone()
            return cls(mass, fw.sum(-1), torch.bmm(fw, f.transpose(1, 2)), f.shape[-1])

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.mass + other.mass, self.first + other.first, self.second + other.second,
                       self.pixels + other.pixels)

    def to(self, dtype: torch.dtype) -> Moments:
        return Moments(self.mass.to(dtype), self.first.to(dtype), self.second.to(dtype), self.pixels)

    def detach(self) -> Moments:
        return Moments(self.mass.detach(), self.first.detach(), self.second.detach(), self.pixels)

    def leaves(self) -> Moments:
        """A detached copy whose ``first`` and ``second`` take gradients (the loss's inputs)."""
        return Moments(self.mass.detach(), self.first.detach().requires_grad_(True),
                       self.second.detach().requires_grad_(True), self.pixels)

    def dot(self, other: Moments) -> torch.Tensor:
        """<self, other> over ``first`` and ``second``: with ``self`` the gradient of a loss with
        respect to the whole image's moments and ``other`` a tile's, the tile's share of that
        loss to first order (its gradient is the tile's exact share of the loss's gradient)."""
        return (self.first * other.first).sum() + (self.second * other.second).sum()

    @property
    def count(self) -> torch.Tensor:
        return self.mass.clamp(min=1e-8).view(-1, 1)

    def mean(self) -> torch.Tensor:
        return self.first / self.count

    def gram(self) -> torch.Tensor:
        """sum w f f^T / sum w: the Gram matrix per pixel (``nst.objective.losses.gram.pixel_gram``)."""
        return self.second / self.count.unsqueeze(-1)

    def covariance(self) -> torch.Tensor:
        mean = self.mean()
        return self.gram() - mean.unsqueeze(-1) * mean.unsqueeze(-2)

    def variance(self) -> torch.Tensor:
        mean = self.mean()
        return (self.gram().diagonal(dim1=-2, dim2=-1) - mean.pow(2)).clamp(min=0)
