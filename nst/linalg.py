"""Linear algebra the losses and the colour transfer share: float64 eigendecompositions of
covariance matrices (float32 eigh fails on many equal eigenvalues)."""

from __future__ import annotations

import torch


def float64(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float64 for an eigendecomposition (on the CPU where the device has no float64: MPS)."""
    return (x.cpu() if x.device.type == "mps" else x).double()


def eigvalsh_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of symmetric matrices (... x C x C), in ``matrix``'s dtype and device. On a
    GPU in float32 first (float64 runs at 1/32-1/64 of its speed on consumer GPUs), in float64
    only where float32 fails to converge; elsewhere in float64, as always (the same pictures)."""
    if matrix.device.type == "cuda":
        try:
            return torch.linalg.eigvalsh(matrix.float()).to(matrix.dtype)
        except torch.linalg.LinAlgError:
            pass
    return torch.linalg.eigvalsh(float64(matrix)).to(matrix.device, matrix.dtype)


def sqrtm_psd(matrix: torch.Tensor, eps: float = 1e-8, inverse: bool = False) -> torch.Tensor:
    """Square root (or its inverse) of symmetric positive semi-definite matrices (... x C x C)
    by eigendecomposition, eigenvalues clamped at ``eps``."""
    m = float64(matrix)  # float32 eigh can return NaN on many equal (zero) eigenvalues
    vals, vecs = torch.linalg.eigh((m + m.transpose(-1, -2)) / 2)
    roots = vals.clamp(min=eps).sqrt()
    roots = 1 / roots if inverse else roots
    return ((vecs * roots.unsqueeze(-2)) @ vecs.transpose(-1, -2)).to(matrix.device, matrix.dtype)
