"""The temporal loss of video style transfer (Ruder et al. 2016, eq. 7): keep the pixels the
optical flow can follow where the flow carries the previous stylised frame."""

from __future__ import annotations

import torch
from torch import nn


class TemporalLoss(nn.Module):
    """(1/D) Σ c · (x - ω)²: ω is the previous stylised frame warped onto this one, c the mask
    of trusted (non-occluded, no motion boundary) pixels, D the number of values (so that the
    loss does not depend on the frame size). Pixels in 0-255 units, as in Ruder et al. and as
    the caffe VGG19 sees them, so that its weight sits near the content term's scale."""

    def __init__(self, target: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach().float(), persistent=False)
        self.register_buffer("mask", mask.detach().float(), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (self.mask * (image.float() - self.target).pow(2)).mean() * 255**2
