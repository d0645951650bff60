"""Style as feature statistics: channel means and deviations, or a Gaussian (mean + covariance)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from nst.linalg import eigvalsh_psd, sqrtm_psd
from nst.objective.losses.common import flatten, full_precision
from nst.objective.losses.guides import guided_mean_cov, guided_mean_var, register_guides
from nst.objective.losses.moments import Moments
from nst.objective.losses.registry import register_style_loss


def mean_std(
    features: torch.Tensor, eps: float = 1e-5, guide: Optional[torch.Tensor] = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over pixels: B x C each (AdaIN's statistics),
    over the guided region when a guide is given."""
    if guide is not None:
        mean, var = guided_mean_var(features, guide)
        return mean, (var + eps).sqrt()
    f = flatten(features)
    mean = f.mean(dim=-1)
    std = (f.var(dim=-1, unbiased=False) + eps).sqrt()
    return mean, std


@register_style_loss("mean_std", 1.3e3)
class MeanStdLoss(nn.Module):
    """AdaIN statistics: mean_c (mu_c - mu_c^s)^2 + mean_c (sigma_c - sigma_c^s)^2 over the
    channels c. The target may be given as :class:`Moments`; :meth:`from_moments` (tiling)."""

    def __init__(
        self,
        target_features: torch.Tensor | Moments,
        eps: float = 1e-5,
        target_guide: Optional[torch.Tensor] = None,
        input_guide: Optional[torch.Tensor] = None,
    ):
        super().__init__()
        self.eps = eps
        if isinstance(target_features, Moments):
            mean, std = target_features.mean(), (target_features.variance() + eps).sqrt()
        else:
            with full_precision(target_features):
                mean, std = mean_std(target_features.detach(), eps, target_guide)
        self.register_buffer("target_mean", mean, persistent=False)
        self.register_buffer("target_std", std, persistent=False)
        register_guides(self, input_guide)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with full_precision(features):
            mean, std = mean_std(features, self.eps, self.input_guide)
            return self.distance(mean, std)

    def from_moments(self, moments: Moments) -> torch.Tensor:
        return self.distance(moments.mean(), (moments.variance() + self.eps).sqrt())

    def distance(self, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        return (mean - self.target_mean).pow(2).mean() + (std - self.target_std).pow(2).mean()


def mean_cov(features: torch.Tensor, guide: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image channel mean (B x C) and covariance over pixels (B x C x C), over the guided
    region when a guide is given."""
    if guide is not None:
        return guided_mean_cov(features, guide)
    f = flatten(features)
    mean = f.mean(dim=-1, keepdim=True)
    centred = f - mean
    return mean.squeeze(-1), centred @ centred.transpose(1, 2) / f.shape[-1]


@register_style_loss("wasserstein2", 1e3)
class Wasserstein2Loss(nn.Module):
    """Gaussian Wasserstein-2 distance (crowsonkb's): W2^2 between Gaussians fitted to the
    features, divided by the number of channels C:

    (||mu - mu_s||^2 + tr(S) + tr(S_s) - 2 tr((S_s^1/2 S S_s^1/2)^1/2)) / C.
    The target may be given as :class:`Moments`; :meth:`from_moments` (tiling).
    """

    def __init__(
        self,
        target_features: torch.Tensor | Moments,
        eps: float = 1e-8,
        target_guide: Optional[torch.Tensor] = None,
        input_guide: Optional[torch.Tensor] = None,
    ):
        super().__init__()
        self.eps = eps
        register_guides(self, input_guide)
        given = target_features.first if isinstance(target_features, Moments) else target_features
        with full_precision(given):
            if isinstance(target_features, Moments):
                mean, cov = target_features.mean(), target_features.covariance()
            else:
                mean, cov = mean_cov(target_features.detach(), target_guide)
            self.register_buffer("target_mean", mean, persistent=False)
            self.register_buffer("target_cov_sqrt", sqrtm_psd(cov, eps), persistent=False)
            self.register_buffer(
                "target_trace", cov.diagonal(dim1=-2, dim2=-1).sum(-1), persistent=False
            )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with full_precision(features):
            return self.distance(*mean_cov(features, self.input_guide))

    def from_moments(self, moments: Moments) -> torch.Tensor:
        return self.distance(moments.mean(), moments.covariance())

    def distance(self, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
        with full_precision(cov):
            root = self.target_cov_sqrt.to(cov.dtype)
            cross = root @ cov @ root
            cross = (cross + cross.transpose(-1, -2)) / 2  # exact symmetry for eigvalsh
            # float64 where float32 fails to converge: with few pixels (deep layers of small
            # images) most eigenvalues are equal zeros (nst.linalg)
            eigenvalues = eigvalsh_psd(cross)
            cross_trace = eigenvalues.clamp(min=self.eps).sqrt().sum(-1)
            trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
            w2 = (
                (mean - self.target_mean).pow(2).sum(-1)
                + trace + self.target_trace - 2 * cross_trace
            )
            return (w2 / cov.shape[-1]).mean()
