"""Optical flow between video frames, and what it says about them (Ruder et al. 2016):
where each pixel of frame t was in frame t-1, which pixels can be trusted (not occluded, not
on a motion boundary), and frame t-1 (or its stylised version) warped onto frame t.

The flow is OpenCV's DIS (Kroeger et al. 2016, ``opencv-python-headless``): no weights to
download, milliseconds per frame on a CPU, and within 0.1 px of the truth on a panned photo
(``tests/test_flow.py``; speed and the alternatives in ``bench/video_flicker.py``).
Flows are 1x2xHxW tensors of (dx, dy) in pixels: ``a(x) ≈ b(x + flow(x))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

FlowPreset = Literal["ultrafast", "fast", "medium"]


@lru_cache(maxsize=None)
def dis(preset: FlowPreset):
    import cv2

    presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    return cv2.DISOpticalFlow_create(presets[preset])


def gray_uint8(image: torch.Tensor) -> np.ndarray:
    """1x3xHxW float in [0, 1] -> HxW uint8 luma (what DIS reads)."""
    rgb = image[0].detach().float().cpu().clamp(0, 1)
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return luma.mul(255).add_(0.5).to(torch.uint8).numpy()


def estimate_flow(a: torch.Tensor, b: torch.Tensor, preset: FlowPreset = "medium") -> torch.Tensor:
    """The flow from ``a`` to ``b`` (1x3xHxW): ``a(x) ≈ b(x + flow(x))``, 1x2xHxW on ``a``'s device."""
    flow = dis(preset).calc(gray_uint8(a), gray_uint8(b), None)
    return torch.from_numpy(flow).permute(2, 0, 1).unsqueeze(0).to(a.device)


def sample_grid(flow: torch.Tensor) -> torch.Tensor:
    """grid_sample's grid for the points x + flow(x) (align_corners=True: -1 and 1 are the
    centres of the outer pixels)."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing="ij")
    x = (xs + flow[:, 0]) * (2 / max(w - 1, 1)) - 1
    y = (ys + flow[:, 1]) * (2 / max(h - 1, 1)) - 1
    return torch.stack([x, y], dim=-1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled at x + flow(x) (bilinear; outside the frame: the nearest edge pixel).
    With ``flow`` from frame t to frame t-1, this carries frame t-1 onto frame t."""
    grid = sample_grid(flow.to(image.device, torch.float32))
    return F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)


def trusted_pixels(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """1x1xHxW mask, 1 where frame t's pixel can be followed back to frame t-1 (Ruder et al.
    2016, eq. 4-5): the forward flow, carried to frame t, undoes the backward flow
    (|w_f + w_b|² ≤ 0.01 (|w_f|² + |w_b|²) + 0.5), it is no motion boundary
    (|∇u|² + |∇v|² ≤ 0.01 |w_b|² + 0.002), and x + w_b(x) lies inside frame t-1."""
    carried = warp(forward, backward)
    sum_sq = (carried + backward).pow(2).sum(1, keepdim=True)
    consistent = sum_sq <= 0.01 * (carried.pow(2).sum(1, keepdim=True) + backward.pow(2).sum(1, keepdim=True)) + 0.5
    dx = F.pad(backward[..., :, 1:] - backward[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(backward[..., 1:, :] - backward[..., :-1, :], (0, 0, 0, 1))
    gradient_sq = (dx.pow(2) + dy.pow(2)).sum(1, keepdim=True)
    smooth = gradient_sq <= 0.01 * backward.pow(2).sum(1, keepdim=True) + 0.002
    grid = sample_grid(backward)
    inside = (grid.abs() <= 1 + 1e-6).all(-1).unsqueeze(1)
    return (consistent & smooth & inside).float()


@dataclass(frozen=True)
class Motion:
    """From frame t-1 to frame t: ``backward`` flow (t -> t-1) and the ``mask`` of trusted pixels."""

    backward: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def between(cls, previous: torch.Tensor, current: torch.Tensor, preset: FlowPreset = "medium") -> Motion:
        backward = estimate_flow(current, previous, preset)
        forward = estimate_flow(previous, current, preset)
        return cls(backward, trusted_pixels(backward, forward))

    def carry(self, image: torch.Tensor) -> torch.Tensor:
        """Frame t-1's ``image`` warped onto frame t."""
        return warp(image, self.backward)


def flicker(previous: torch.Tensor, current: torch.Tensor, motion: Motion) -> float:
    """Mean absolute difference (0-255 units) between ``current`` and ``previous`` warped onto
    it, over the trusted pixels: what changes that the motion does not explain."""
    carried = motion.carry(previous.float()).to(current.device)
    mask = motion.mask.to(current.device)
    difference = (current.float() - carried).abs().mean(1, keepdim=True) * mask
    return float(difference.sum() / mask.sum().clamp(min=1) * 255)
