"""Instance norm whose gradient is right whatever layout the gradient arrives in.

PyTorch's CPU ``instance_norm`` backward (2.15.0; checked in float64, float32 and bf16) returns
wrong gradients, for the input and for gamma and beta alike, when the batch holds one image and
the incoming gradient is channels-last: the layout VGG19's backward hands the picture's gradient
in (``nst.objective.network.features`` runs NHWC), straight into the instant network's last norm.
Fine-tuned one photo a step (the CPU recipe), that network climbed its own loss. The gradient is
made contiguous before it reaches the norm's backward; the forward, the weights and their names
are ``nn.InstanceNorm2d``'s."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def instance_norm(x: torch.Tensor, weight: Optional[torch.Tensor] = None, bias: Optional[torch.Tensor] = None,
                  eps: float = 1e-5) -> torch.Tensor:
    y = F.instance_norm(x, weight=weight, bias=bias, eps=eps)
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling() and y.requires_grad:
        y.register_hook(contiguous_gradient)
    return y


def contiguous_gradient(gradient: torch.Tensor) -> torch.Tensor:
    return gradient.contiguous()


class InstanceNorm2d(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (no running statistics) through :func:`instance_norm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return instance_norm(x, self.weight, self.bias, self.eps)
