"""Luan et al.'s photorealism regulariser ("Deep Photo Style Transfer", CVPR 2017): the image's
colours should be, in every 3x3 window, an affine function of the photo's there. The penalty is
sum_c V_c^T L V_c with L the matting Laplacian of the photo (Levin, Lischinski & Weiss, "A
Closed-Form Solution to Natural Image Matting", 2008), whose null space is exactly those images.

L is never formed as a matrix: its quadratic form is the sum over windows k of

    |v_k - mean v_k|^2 - (X_k^T v_k)^T A_k (X_k^T v_k) / n,   n = 9 pixels,

with X_k the window's photo colours minus their mean and A_k = (Sigma_k + eps / n I)^-1 (Levin's
(12), expanded), which is the same number as V^T L V from the sparse matrix, at the cost of two
small einsums over ``F.unfold``'s windows; X and A are built once per size, from the photo.
The two parts nearly cancel for an image close to an affine recolouring, so it is computed in
float64 (float32 gave -6e-3 on one CPU and +3e-2 on another for the photo itself; the einsums
are a small part of a step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nst.objective.losses.common import full_precision, upcast
from nst.objective.losses.content import ContentLoss
from nst.objective.losses.registry import register_content_loss
from nst.objective.network.layers import RGB

WINDOW = 3


def windows(image: torch.Tensor) -> torch.Tensor:
    """B x C x H x W -> B x C x K x 9: every 3x3 window's values (K = (H-2)(W-2))."""
    b, c = image.shape[:2]
    return F.unfold(image, WINDOW).view(b, c, WINDOW * WINDOW, -1).transpose(-1, -2)


def matting_terms(photo: torch.Tensor, eps: float = 1e-7) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, A) of the photo (1 x 3 x H x W in [0, 1]): K x 9 x 3 centred colours and K x 3 x 3
    regularised inverse covariances, in float64."""
    colours = windows(photo.double())[0].permute(1, 2, 0)  # K x 9 x 3
    centred = colours - colours.mean(dim=1, keepdim=True)
    n = WINDOW * WINDOW
    covariance = centred.transpose(1, 2) @ centred / n
    inverse = torch.linalg.inv(covariance + eps / n * torch.eye(3, dtype=torch.float64))
    return centred, inverse


class MattingLaplacian(nn.Module):
    """sum_c V_c^T L V_c / (H W) of an image against a photo of the same size."""

    def __init__(self, photo: torch.Tensor, eps: float = 1e-7):
        super().__init__()
        centred, inverse = matting_terms(photo.detach(), eps)
        self.register_buffer("centred", centred, persistent=False)
        self.register_buffer("inverse", inverse, persistent=False)
        self.pixels = photo.shape[-2] * photo.shape[-1]

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        with full_precision(image):
            v = windows(image.double())  # B x 3 x K x 9
            v = v - v.mean(-1, keepdim=True)
            projected = torch.einsum("bckn,knd->bckd", v, self.centred)
            quadratic = torch.einsum("bckd,kde,bcke->bck", projected, self.inverse, projected)
            per_window = v.pow(2).sum(-1) - quadratic / (WINDOW * WINDOW)
            return (per_window.sum((1, 2)).mean() / self.pixels).to(upcast(image).dtype)


@register_content_loss("photorealistic", 1.0, default_layers=("relu4_2", RGB))
class PhotorealisticLoss(nn.Module):
    """Luan et al.'s content term: on the network's layers the mean squared error (``mse``),
    on the ``rgb`` layer (the pixels) the matting Laplacian regulariser of the photo; its layer
    weight is Luan's lambda (``content_layers: {relu4_2: 1, rgb: 1e4}``, configs/photo.yaml)."""

    def __init__(self, target: torch.Tensor, eps: float = 1e-7):
        super().__init__()
        self.term = MattingLaplacian(target, eps) if target.shape[1] == 3 else ContentLoss(target)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.term(features)
