"""jcjohnson's ``-normalize_gradients``: each layer loss's gradient is L1-normalised in the
backward pass, so no layer's push fades as its loss falls. Ours keeps the start's balance: the
normalised gradient is scaled by its own L1 norm at the first backward pass (jcjohnson's weights
were tuned for his normalisation; ours keep meaning what they mean without it)."""

from __future__ import annotations

import torch
from torch import nn


class _Normalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, owner: "GradientNormalizer") -> torch.Tensor:
        ctx.owner = owner
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        norm = grad.abs().sum().float()
        owner = ctx.owner
        if owner.scale is None:
            owner.scale = float(norm)
        return grad * (owner.scale / (norm + 1e-12)).to(grad.dtype), None


class GradientNormalizer(nn.Module):
    """Identity forward; backward rescales the gradient to the L1 norm it had the first time."""

    def __init__(self):
        super().__init__()
        self.scale: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Normalize.apply(x, self) if x.requires_grad else x
