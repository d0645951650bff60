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


def match_moments(values: torch.Tensor, reference: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """D x N values moved to the mean and covariance of D x M reference values (ZCA-coloured:
    x' = C_r^1/2 C_v^-1/2 (x - mu_v) + mu_r), in float64; ``eps`` x I keeps both invertible."""
    v, r = values.double(), reference.double()
    mu_v, mu_r = v.mean(1, keepdim=True), r.mean(1, keepdim=True)
    eye = eps * torch.eye(v.shape[0], dtype=v.dtype, device=v.device)
    transform = sqrtm_psd(torch.cov(r) + eye) @ sqrtm_psd(torch.cov(v) + eye, inverse=True)
    return (transform @ (v - mu_v) + mu_r).to(values.dtype)


def match_color_histogram(style: torch.Tensor, content: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Recolour ``style`` so its pixel mean and covariance equal the content's:
    x' = C_c^1/2 C_s^-1/2 (x - mu_s) + mu_c (Gatys 2017's colour histogram matching), then
    clamp to valid pixels (which trims the variance of saturated channels a little)."""
    out = match_moments(style[0].reshape(3, -1), content[0].reshape(3, -1), eps=1e-5)
    out = out.reshape_as(style[0]).unsqueeze(0)
    return out.clamp(0, 1) if clamp else out


# OkLab (Björn Ottosson, 2020) from linear sRGB: M2 . cbrt(M1 . rgb)
OKLAB_M1 = torch.tensor([[0.4122214708, 0.5363325363, 0.0514459929], [0.2119034982, 0.6806995451, 0.1073969566],
                         [0.0883024619, 0.2817188376, 0.6299787005]])
OKLAB_M2 = torch.tensor([[0.2104542553, 0.7936177850, -0.0040720468], [1.9779984951, -2.4285922050, 0.4505937099],
                         [0.0259040371, 0.7827717662, -0.8086757660]])
OKLAB_M1_INV, OKLAB_M2_INV = (torch.linalg.inv(m.double()).float() for m in (OKLAB_M1, OKLAB_M2))


def srgb_to_linear(image: torch.Tensor) -> torch.Tensor:
    return torch.where(image <= 0.04045, image / 12.92, ((image + 0.055) / 1.055).pow(2.4))


def linear_to_srgb(image: torch.Tensor) -> torch.Tensor:
    image = image.clamp(0, 1)
    return torch.where(image <= 0.0031308, image * 12.92, 1.055 * image.pow(1 / 2.4) - 0.055)


def rgb_to_oklab(image: torch.Tensor) -> torch.Tensor:
    lms = _apply(OKLAB_M1, srgb_to_linear(image.clamp(0, 1)))
    return _apply(OKLAB_M2, lms.clamp(min=0).pow(1 / 3))


def oklab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    lms = _apply(OKLAB_M2_INV, lab).pow(3)
    return linear_to_srgb(_apply(OKLAB_M1_INV, lms))


def neighbour_color_correction(output: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """NNST's colour correction (Kolkin et al. 2022): in OkLab, the result keeps its lightness
    and takes the photo's chroma moved to the painting's chroma mean and covariance, each channel
    kept within the painting's range; what it loses in stylisation it gains in robustness (no
    colour shifts within an object). NNST also smooths the chroma along the lightness's edges;
    this does not."""
    out, photo, paint = rgb_to_oklab(output), rgb_to_oklab(content), rgb_to_oklab(style)
    chroma = match_moments(photo[0, 1:].flatten(1), paint[0, 1:].flatten(1)).view_as(photo[0, 1:])
    lab = torch.cat([out[0, :1], chroma], 0)
    low, high = (bound.view(3, 1, 1) for bound in paint[0].flatten(1).aminmax(dim=1))
    return oklab_to_rgb(torch.maximum(torch.minimum(lab, high), low).unsqueeze(0)).clamp(0, 1)
