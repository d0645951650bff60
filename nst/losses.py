"""Content, style and total-variation losses, each a small module with its target as a buffer.

Both feature losses are independent of the image size: content is the *mean* squared feature
difference, and style compares Gram matrices normalised by C*H*W (Gatys et al.'s 1/(N_l M_l)),
so E_l = ||G_l - A_l||^2 (Gatys' E_l without the constant 1/4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nst.errors import ConfigError


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """B x C x H x W features -> B x C x C Gram matrices F F^T / (C H W), always in float32.

    Mixed precision would lose the sums over H*W pixels, so autocast is switched off here.
    """
    b, c, h, w = features.shape
    with torch.autocast(device_type=features.device.type, enabled=False):
        f = features.float().reshape(b, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)).div_(c * h * w)


class ContentLoss(nn.Module):
    """Mean squared difference between the features and the content target's features."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach().float(), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(features.float(), self.target)


class GramLoss(nn.Module):
    """Squared Frobenius distance between Gram matrices: sum_ij (G_ij - A_ij)^2."""

    def __init__(self, target_features: torch.Tensor):
        super().__init__()
        self.register_buffer("target", gram_matrix(target_features.detach()), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (gram_matrix(features) - self.target).pow(2).sum(dim=(1, 2)).mean()


class TVLoss(nn.Module):
    """Total variation: mean of squared (p=2) or absolute (p=1) neighbour differences."""

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


class LayerLosses(nn.Module):
    """A weighted sum over layers: sum_l w_l * loss_l(features[l])."""

    def __init__(self, losses: dict[str, nn.Module], weights: dict[str, float]):
        super().__init__()
        self.losses = nn.ModuleDict(losses)
        self.weights = dict(weights)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.weights[name] * loss(features[name]) for name, loss in self.losses.items())
