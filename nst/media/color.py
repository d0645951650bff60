"""Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors"): transfer style on
luminance only and keep the photo's chroma, or recolour the style to the photo's palette."""

from __future__ import annotations

import torch

from nst.linalg import sqrtm_psd

# NTSC YIQ: Y is luminance, I and Q carry the chroma.
RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image.device, image.dtype), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    return _apply(RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return _apply(YIQ_TO_RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Y = 0.299 R + 0.587 G + 0.114 B (Rec. 601, YIQ's first row): B x 3 x H x W -> B x 1 x H x W."""
    return rgb_to_yiq(image)[:, :1]


def luminance_image(image: torch.Tensor) -> torch.Tensor:
    """The luminance Y repeated on three channels: what VGG sees in luminance-only transfer."""
    return luminance(image).expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Style luminance image with the content's luminance mean and deviation (Gatys 2017)."""
    ys, yc = luminance(style), luminance(content)
    matched = (ys - ys.mean()) / ys.std().clamp(min=1e-6) * yc.std() + yc.mean()
    return matched.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def with_chroma_of(luma_source: torch.Tensor, chroma_source: torch.Tensor) -> torch.Tensor:
    """RGB image with the Y of ``luma_source`` and the I, Q of ``chroma_source``, clamped."""
    yiq = torch.cat([luminance(luma_source), rgb_to_yiq(chroma_source)[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def match_color_histogram(style: torch.Tensor, content: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Recolour ``style`` so its pixel mean and covariance equal the content's:
    x' = C_c^1/2 C_s^-1/2 (x - mu_s) + mu_c (Gatys 2017's colour histogram matching), then
    clamp to valid pixels (which trims the variance of saturated channels a little)."""
    s = style[0].reshape(3, -1).double()
    c = content[0].reshape(3, -1).double()
    mu_s, mu_c = s.mean(1, keepdim=True), c.mean(1, keepdim=True)
    cov_s = torch.cov(s) + 1e-5 * torch.eye(3, dtype=s.dtype, device=s.device)
    cov_c = torch.cov(c) + 1e-5 * torch.eye(3, dtype=c.dtype, device=c.device)
    transform = sqrtm_psd(cov_c) @ sqrtm_psd(cov_s, inverse=True)
    out = transform @ (s - mu_s) + mu_c
    out = out.reshape_as(style[0]).unsqueeze(0).to(style.dtype)
    return out.clamp(0, 1) if clamp else out
