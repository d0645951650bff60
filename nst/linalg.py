"""Linear algebra the losses and the colour transfer share: float64 eigendecompositions of
covariance matrices (float32 eigh fails on many equal eigenvalues)."""

from __future__ import annotations

import torch


def float64(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float64 for an eigendecomposition (on the CPU where the device has no float64: MPS)."""
    return (x.cpu() if x.device.type == "mps" else x).double()


def sqrtm_psd(matrix: torch.Tensor, eps: float = 1e-8, inverse: bool = False) -> torch.Tensor:
    """Square root (or its inverse) of symmetric positive semi-definite matrices (... x C x C)
    by eigendecomposition, eigenvalues clamped at ``eps``."""
    m = float64(matrix)  # float32 eigh can return NaN on many equal (zero) eigenvalues
    vals, vecs = torch.linalg.eigh((m + m.transpose(-1, -2)) / 2)
    roots = vals.clamp(min=eps).sqrt()
    roots = 1 / roots if inverse else roots
    return ((vecs * roots.unsqueeze(-2)) @ vecs.transpose(-1, -2)).to(matrix.device, matrix.dtype)
