"""Style as local patches: every feature patch should look like its nearest style patch."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nst.errors import ConfigError
from nst.objective.losses.common import full_precision, upcast
from nst.objective.losses.guides import patch_inside, register_guides
from nst.objective.losses.registry import register_style_loss


def extract_patches(features: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """1 x C x H x W -> N x (C size size) patches."""
    patches = F.unfold(upcast(features), kernel_size=size, stride=stride)  # 1 x D x N
    return patches[0].t()


@register_style_loss("mrf", 3.3e2, default_layers=("relu3_1", "relu4_1"))
class MRFLoss(nn.Module):
    """Mean squared distance between each ``patch_size`` x ``patch_size`` feature patch and its
    nearest style patch (by normalised cross-correlation), as in Li & Wand and pystiche's MRF
    loss. The neighbour search runs in chunks of ``chunk`` patches to bound memory; style patches
    are taken every ``target_stride`` pixels. Use it on deep layers (relu3_1, relu4_1).
    Its cost grows with the square of the pixels (every patch against every style patch).
    """

    quadratic_cost = True

    def __init__(
        self,
        target_features: torch.Tensor,
        patch_size: int = 3,
        stride: int = 1,
        target_stride: int = 1,
        chunk: int = 1024,
        target_guide: Optional[torch.Tensor] = None,
        input_guide: Optional[torch.Tensor] = None,
    ):
        """Guides: a patch of the guided region (mean guide >= 0.5) of the image matches a patch
        of the painting's guided region; the other patches are left out."""
        super().__init__()
        if min(patch_size, stride, target_stride, chunk) < 1:
            raise ConfigError("mrf patch_size, stride, target_stride and chunk must be >= 1")
        if min(target_features.shape[-2:]) < patch_size:
            raise ConfigError(f"mrf: style feature map smaller than patch_size={patch_size}")
        self.patch_size, self.stride, self.chunk = patch_size, stride, chunk
        with full_precision(target_features):
            target = extract_patches(target_features.detach()[:1], patch_size, target_stride)
            where = patch_inside(target_guide, target_features, patch_size, target_stride)
            target = target if where is None else target[where]
        self.register_buffer("target", target, persistent=False)
        register_guides(self, input_guide)
        self.register_buffer(
            "target_unit", target / target.norm(dim=1, keepdim=True).clamp(min=1e-8), persistent=False
        )

    @torch.no_grad()
    def nearest(self, patches: torch.Tensor) -> torch.Tensor:
        unit = patches / patches.norm(dim=1, keepdim=True).clamp(min=1e-8)
        target = self.target_unit.to(unit.dtype)
        return torch.cat([(part @ target.t()).argmax(dim=1) for part in unit.split(self.chunk)])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with full_precision(features):
            losses = []
            for image in features.split(1):
                patches = extract_patches(image, self.patch_size, self.stride)
                where = patch_inside(self.input_guide, image, self.patch_size, self.stride)
                patches = patches if where is None else patches[where]
                matched = self.target.to(patches.dtype)[self.nearest(patches)]
                losses.append((patches - matched).pow(2).mean())
            return torch.stack(losses).mean()
