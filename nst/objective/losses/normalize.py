"""jcjohnson's ``-normalize_gradients``: each layer loss's gradient is L1-normalised in the
backward pass, so no layer's push fades as its loss falls. Ours keeps the start's balance: the
normalised gradient is scaled by its own L1 norm at the first backward pass (jcjohnson's weights
were tuned for his normalisation; ours keep meaning what they mean without it).

Under 16-mixed the gradient arrives multiplied by GradScaler's loss scale (65536 at first, halved
after an overflow): the norm is summed in float32 (an fp16 sum of it overflows to inf), and the
kept norm is the unscaled one, so that a change of the loss scale changes nothing."""

from __future__ import annotations

import math

import torch
from torch import nn


class _Normalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, owner: "GradientNormalizer") -> torch.Tensor:
        ctx.owner = owner
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        owner = ctx.owner
        norm = torch.linalg.vector_norm(grad, 1, dtype=torch.float32)
        loss_scale = owner.loss_scale() if owner.loss_scale is not None else 1.0
        if owner.scale is None:
            first = float(norm / loss_scale)  # one host sync, at the first backward pass
            if not math.isfinite(first):  # an overflowed step, which GradScaler skips: wait for a finite one
                return grad, None
            owner.scale = first
        return grad * (owner.scale * loss_scale / (norm + 1e-12)).to(grad.dtype), None


class GradientNormalizer(nn.Module):
    """Identity forward; backward rescales the gradient to the L1 norm it had the first time."""

    def __init__(self):
        super().__init__()
        self.scale: float | None = None  # the unscaled L1 norm of the first gradient
        self.loss_scale = None  # under 16-mixed: returns GradScaler's current scale (follow_loss_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Normalize.apply(x, self) if x.requires_grad else x


def follow_loss_scale(module: nn.Module, scaler) -> None:
    """Tell ``module``'s normalisers the loss scale of ``scaler`` (a ``torch.amp.GradScaler``, or
    ``None``): read as its tensor at each backward pass, without a host sync."""
    for normalizer in module.modules():
        if isinstance(normalizer, GradientNormalizer):
            normalizer.loss_scale = None if scaler is None else (lambda: scaler._scale if scaler._scale is not None
                                                                 else 1.0)
