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
