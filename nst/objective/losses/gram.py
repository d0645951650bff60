"""Gatys et al.'s style loss: distances between Gram matrices of feature maps."""

from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import nn

from nst.objective.losses.common import flatten, full_precision, upcast
from nst.objective.losses.guides import guided_flatten, register_guides
from nst.objective.losses.moments import Moments
from nst.objective.losses.registry import register_style_loss

GramNormalization = Literal["gatys", "coursera", "none"]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """B x C x H x W features -> B x C x C Gram matrices F F^T / (C H W), in float32 or more.

    Mixed precision would lose the sums over H*W pixels, so autocast is switched off here.
    """
    c = features.shape[1]
    return pixel_gram(features) / c


def pixel_gram(features: torch.Tensor, guide: Optional[torch.Tensor] = None) -> torch.Tensor:
    """F F^T / (H W): the Gram matrix per pixel, comparable across image sizes; with a guide m,
    (F m)(F m)^T / sum(m^2), the Gram matrix of the guided region."""
    with full_precision(features):
        if guide is not None:
            f, mass = guided_flatten(features, guide)
            return torch.bmm(f, f.transpose(1, 2)) / mass
        f = flatten(features, keep_dtype=True)
        return SelfGram.apply(f) / f.shape[-1]


class SelfGram(torch.autograd.Function):
    """G = F F^T in float32 (or more) with the backward dF = (dG + dG^T) F: one matrix product
    where autograd, which sees two operands, does two (F^T dG and dG F). Under mixed precision F
    comes in bf16/fp16 and the backward's product runs in that precision (the gradient goes on
    into the network's bf16 backward anyway): 0.500 -> 0.462 s per 400 px bf16 step on two CPU threads
    (docs/performance/benchmarks.md, section 6)."""

    @staticmethod
    def forward(ctx, f: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(f)
        full = upcast(f)
        return torch.bmm(full, full.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (f,) = ctx.saved_tensors
        symmetric = (grad + grad.transpose(1, 2)).to(f.dtype)
        if f.stride(1) == 1 and f.shape[1] > 1:  # channels-last features: answer in their layout
            return torch.bmm(f.transpose(1, 2), symmetric).transpose(1, 2)
        return torch.bmm(symmetric, f)


@register_style_loss("gram", 1e-3)
class GramLoss(nn.Module):
    """Squared Frobenius distance of Gram matrices, with a selectable normalisation.

    With D = F F^T / (H W) - A A^T / (H_s W_s) (per-pixel Gram matrices, C channels):
    ``gatys``: sum (D / C)^2, i.e. ||Gram/(C H W) - Gram_s/(C H_s W_s)||^2;
    ``coursera``: sum D^2 / (4 C^2), the seeds' J_style = 1/(4 nC^2 (nH nW)^2) sum (G_S - G_G)^2;
    ``none``: sum (D H W)^2, the raw Gram matrices (grows with the image size).
    Guides (``nst.objective.losses.guides``) give Gatys et al. 2017's guided Gram matrices.
    ``target_features`` may be :class:`Moments` (gathered over tiles, guide included);
    :meth:`from_moments` is the loss of the image whose moments are given (``nst.objective.tiling``).
    """

    def __init__(
        self,
        target_features: torch.Tensor | Moments,
        normalization: GramNormalization = "gatys",
        target_guide: Optional[torch.Tensor] = None,
        input_guide: Optional[torch.Tensor] = None,
    ):
        super().__init__()
        self.normalization = normalization
        if isinstance(target_features, Moments):
            target = target_features.detach().gram()
        else:
            target = pixel_gram(target_features.detach(), target_guide)
        self.register_buffer("target", target, persistent=False)
        register_guides(self, input_guide)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b, c, h, w = features.shape
        return self.distance(pixel_gram(features, self.input_guide), h * w)

    def from_moments(self, moments: Moments) -> torch.Tensor:
        """The loss of the image whose (guided) moments these are."""
        return self.distance(moments.gram(), moments.pixels)

    def distance(self, gram: torch.Tensor, pixels) -> torch.Tensor:
        c = gram.shape[-1]
        diff = gram - self.target
        if self.normalization == "gatys":
            per_image = (diff / c).pow(2).sum(dim=(1, 2))
        elif self.normalization == "coursera":
            per_image = diff.pow(2).sum(dim=(1, 2)) / (4 * c * c)
        else:
            per_image = (diff * pixels).pow(2).sum(dim=(1, 2))
        return per_image.mean()
