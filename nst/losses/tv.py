"""Total variation: a smoothness prior on the generated image."""

from __future__ import annotations

import torch
from torch import nn

from nst.errors import ConfigError


class TVLoss(nn.Module):
    """Mean of squared (p=2) or absolute (p=1) differences between neighbouring pixels."""

    def __init__(self, p: int = 2):
        super().__init__()
        if p not in (1, 2):
            raise ConfigError(f"tv_p must be 1 or 2, got {p}")
        self.p = p

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        dy = image[..., 1:, :] - image[..., :-1, :]
        dx = image[..., :, 1:] - image[..., :, :-1]
        if self.p == 1:
            return dy.abs().mean() + dx.abs().mean()
        return dy.pow(2).mean() + dx.pow(2).mean()
