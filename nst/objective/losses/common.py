"""Helpers shared by the losses: full-precision flattening and sorted (quantile) matching."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F


def full_precision(x: torch.Tensor) -> contextlib.AbstractContextManager:
    """Autocast off: statistics over many pixels lose too much in 16-bit floats."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def upcast(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 -> float32; float32 and float64 (gradcheck) stay as they are."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def flatten(features: torch.Tensor, keep_dtype: bool = False) -> torch.Tensor:
    """B x C x H x W -> B x C x (H W), at least float32 (``keep_dtype``: as given); a view of
    channels-last features (their gradient then keeps the network's layout: no slow mixed-layout
    adds in the backward pass)."""
    b, c, h, w = features.shape
    features = features if keep_dtype else upcast(features)
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        return features.permute(0, 2, 3, 1).reshape(b, h * w, c).transpose(1, 2)
    return features.reshape(b, c, h * w)


def resample_sorted(sorted_values: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted values ... x M -> ... x n by linear interpolation of the quantile function, so that
    distributions with different pixel counts can be compared value by value."""
    if sorted_values.shape[-1] == n:
        return sorted_values
    lead = sorted_values.shape[:-1]
    flat = sorted_values.reshape(1, -1, sorted_values.shape[-1])
    out = F.interpolate(flat, size=n, mode="linear", align_corners=True)
    return out.reshape(*lead, n)


def sorted_matching_loss(values: torch.Tensor, target_sorted: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between the sorted ``values`` (... x N) and a sorted target.

    This is the 1-D Wasserstein-2 distance between the two empirical distributions per row, and
    equals ||values - matched||^2 where ``matched`` is the target remapped by rank (exact
    histogram matching).
    """
    n = values.shape[-1]
    if values.requires_grad:
        sorted_values = values.sort(dim=-1).values
        target = resample_sorted(target_sorted.to(sorted_values.dtype), n)
        return (sorted_values - target).pow(2).mean()
    # no gradient (evaluation): sort a few rows at a time, so that the sort's values and int64
    # indices never exist for all rows at once (they are several times the features' size)
    rows = values.reshape(-1, n)
    targets = target_sorted.to(values.dtype).expand(*values.shape[:-1], target_sorted.shape[-1])
    targets = targets.reshape(-1, target_sorted.shape[-1])
    total = values.new_zeros(())
    for start in range(0, rows.shape[0], 8):
        chunk = rows[start: start + 8].sort(dim=-1).values
        total += (chunk - resample_sorted(targets[start: start + 8], n)).pow(2).sum()
    return total / values.numel()
