"""Total variation: a smoothness prior on the generated image."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class TVLoss(nn.Module):
    """Mean of squared (p=2) or absolute (p=1) differences between neighbouring pixels."""

    def __init__(self, p: Literal[1, 2] = 2):
        super().__init__()
        self.p = p

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        dy = image[..., 1:, :] - image[..., :-1, :]
        dx = image[..., :, 1:] - image[..., :, :-1]
        if self.p == 1:
            return dy.abs().mean() + dx.abs().mean()
        return dy.pow(2).mean() + dx.pow(2).mean()

    def partial(self, crop: torch.Tensor, core: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        """The share of the differences that start in the ``core`` (rows, columns) at the top
        left of ``crop``, a part of an image of ``size`` (H, W) that holds one more row and
        column than the core where the image does: shares of a partition add up to the loss."""
        (rows, cols), (h, w) = core, size
        b, c = crop.shape[:2]
        dy = crop[..., 1:, :cols] - crop[..., :-1, :cols]
        dx = crop[..., :rows, 1:] - crop[..., :rows, :-1]
        dy, dx = dy[..., :rows, :], dx[..., :, :cols]
        power = (lambda d: d.abs()) if self.p == 1 else (lambda d: d.pow(2))
        return power(dy).sum() / (b * c * (h - 1) * w) + power(dx).sum() / (b * c * h * (w - 1))
