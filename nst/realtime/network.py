"""The image-transformation network of Johnson, Alahi & Fei-Fei (2016), as pytorch/examples'
``fast_neural_style`` builds it: three convolutions down (9x9, then 3x3 with stride 2), residual
blocks, two nearest-neighbour resizes + convolutions up (no transposed convolutions: no
checkerboard, Odena et al. 2016), a 9x9 convolution to RGB; instance norm with affine
parameters (Ulyanov et al. 2016) and reflection padding everywhere.

Any input size works: the image is reflect-padded to a multiple of 4 (two stride-2 steps) and
the output cropped back. The output passes through a sigmoid, so it is always a valid picture
in [0, 1] (also under bf16 and in an exported ONNX graph) and every pixel keeps a gradient:
a clamp would leave out-of-range pixels with none, so they could stay stuck there.

``from_photo=True`` makes the network paint over the photo instead of from nothing: its output is
sigmoid(logit(photo) + the network's), and the last convolution starts at zero, so before any
training the output is the photo itself and every step only learns the change. The content is
there from the first step, which a short training run (a CPU's half hour) cannot otherwise
reach (docs/realtime.md, measured). ``painting_colours=True`` first moves each photo to the
painting's colour mean and covariance (the optimisation's ``style_colors`` start), so the
palette is right from the first step too and training is left the brushstrokes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nst.errors import ConfigError
from nst.linalg import sqrtm_psd
from nst.realtime.instant.folded import InstantNet
from nst.realtime.norm import InstanceNorm2d

Variant = Literal["johnson", "small", "fast", "instant"]
PHOTO_EPS = 1e-3  # from_photo: a photo's 0 and 1 as logits of +-6.9, so the output can still reach them


@dataclass(frozen=True)
class Shape:
    """Channels of the three stages, the number of residual blocks, and the kernel of the first
    and last convolutions (the two at full resolution from and to RGB)."""

    widths: tuple[int, int, int]
    blocks: int
    edge_kernel: int = 9


VARIANTS: dict[str, Shape] = {
    "johnson": Shape((32, 64, 128), 5),  # the paper's (1.7 M parameters)
    "small": Shape((16, 32, 64), 3),  # half the width, three blocks: about 1/4 of the work, for CPUs
    "fast": Shape((16, 32, 64), 3, 5),  # small with 5x5 edges: 4-22 % off a CPU's time (docs/realtime.md)
}
INSTANT = "instant"  # Magenta's instant transformer with one painting folded in (nst.realtime.instant.folded)
NETWORKS = (*VARIANTS, INSTANT)


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride))


def conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(conv(c_in, c_out, kernel, stride), InstanceNorm2d(c_out, affine=True), nn.ReLU())


class Residual(nn.Module):
    """x + IN(conv(relu(IN(conv(x))))), two 3x3 convolutions."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_norm_relu(channels, channels, 3), conv(channels, channels, 3),
                                  InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2, then a convolution, instance norm and ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = conv_norm_relu(c_in, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def inverse_sqrt_psd(matrices: torch.Tensor, iterations: int = 40) -> torch.Tensor:
    """A^-1/2 of symmetric positive definite B x C x C matrices by the coupled Newton-Schulz
    iteration (matrix products only, so TorchScript and ONNX run it as PyTorch does; no eigh).
    A is scaled by its trace first, which puts every eigenvalue in (0, 1] where it converges."""
    scale = matrices.diagonal(dim1=-2, dim2=-1).sum(-1)[:, None, None]
    eye = torch.eye(matrices.shape[-1], dtype=matrices.dtype, device=matrices.device).expand_as(matrices)
    y, z = matrices / scale, eye
    for _ in range(iterations):
        t = 0.5 * (3 * eye - z @ y)
        y, z = y @ t, t @ z
    return z / scale.sqrt()


class PaintingColours(nn.Module):
    """Each photo moved to the painting's pixel mean and covariance: x' = C_p^1/2 C_x^-1/2 (x - mu_x)
    + mu_p (Gatys et al. 2017's colour matching, as ``nst.media.color.match_color_histogram``),
    with C_x^-1/2 per photo by ``inverse_sqrt_psd``. The painting's statistics are buffers, so the
    checkpoint and both exports carry them."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.full((3, 1), 0.5))
        self.register_buffer("sqrt_cov", torch.eye(3) * 0.25)

    def set_painting(self, painting: torch.Tensor) -> None:
        pixels = painting[0].reshape(3, -1).double()
        cov = torch.cov(pixels) + self.eps * torch.eye(3, dtype=torch.float64)
        self.mean.copy_(pixels.mean(1, keepdim=True))
        self.sqrt_cov.copy_(sqrtm_psd(cov))

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        x = photo.float().flatten(2)  # B x 3 x N
        wide = x.double()  # the statistics in float64: float32 sums of 10^5 pixels miss a dull photo's small variances
        centred = wide - wide.mean(2, keepdim=True)
        eye = torch.eye(3, dtype=wide.dtype, device=wide.device)
        cov = centred @ centred.transpose(1, 2) / (x.shape[2] - 1) + self.eps * eye
        transform = (self.sqrt_cov.double() @ inverse_sqrt_psd(cov)).float()
        shift = (self.mean.double() - transform.double() @ wide.mean(2, keepdim=True)).float()
        return (transform @ x + shift).view_as(photo)


class TransformerNet(nn.Module):
    """A 1x3xHxW (or Bx3xHxW) photo in [0, 1] to its stylised picture of the same size, in [0, 1]."""

    def __init__(self, variant: Variant = "johnson", from_photo: bool = False, painting_colours: bool = False):
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"unknown network '{variant}'; valid: {', '.join(VARIANTS)}")
        if painting_colours and not from_photo:
            raise ConfigError("painting_colours recolours the photo the network paints over, and this network paints "
                              "from nothing. Fix: --model.from_photo true, or --model.painting_colours false")
        self.variant = variant
        shape = VARIANTS[variant]
        (a, b, c), k = shape.widths, shape.edge_kernel
        self.down = nn.Sequential(conv_norm_relu(3, a, k), conv_norm_relu(a, b, 3, 2), conv_norm_relu(b, c, 3, 2))
        self.residuals = nn.Sequential(*(Residual(c) for _ in range(shape.blocks)))
        self.up = nn.Sequential(Upsample(c, b), Upsample(b, a), conv(a, 3, k))
        self.from_photo, self.photo_eps = from_photo, PHOTO_EPS
        self.painting_colours = painting_colours
        self.colours = PaintingColours() if painting_colours else nn.Identity()  # the photo painted over
        if from_photo:  # the change starts at zero: the untrained network returns the photo
            nn.init.zeros_(self.up[-1][1].weight)
            nn.init.zeros_(self.up[-1][1].bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        pad_h, pad_w = (-h) % 4, (-w) % 4
        x = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")  # always (a no-op at 0): one graph for every size
        x = self.up(self.residuals(self.down(x * 2 - 1)))[..., :h, :w]  # centred input: the first conv sees [-1, 1]
        if self.from_photo:
            photo = self.colours(image.float()).clamp(self.photo_eps, 1 - self.photo_eps)
            x = x + (torch.log(photo) - torch.log1p(-photo))  # logit (spelt out: ONNX has no Logit operator)
        return torch.sigmoid(x)


def build_network(variant: Variant, from_photo: bool = False, painting_colours: bool = False) -> nn.Module:
    """A style network by its name: one of :data:`VARIANTS` (Johnson et al.'s), or ``instant``
    (its weights set by :meth:`InstantNet.fold` when training starts, or by a checkpoint)."""
    if variant not in NETWORKS:
        raise ConfigError(f"unknown network '{variant}'; valid: {', '.join(NETWORKS)}")
    if variant != INSTANT:
        return TransformerNet(variant, from_photo, painting_colours)
    if from_photo or painting_colours:
        raise ConfigError("the instant network paints with its own pretrained weights, not over the photo. "
                          "Fix: --model.from_photo false --model.painting_colours false")
    return InstantNet()
