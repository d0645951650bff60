"""The two networks of Ghiasi et al.'s arbitrary stylisation, as TensorFlow Lite's release has
them (Magenta's ``arbitrary_image_stylization``, ``image_stylization/ops.py``):

* :class:`StylePredictor`: MobileNetV2 (width 1.0; batch norm folded into the convolutions, ReLU6,
  TensorFlow's "SAME" padding) over a 256x256 painting in [0, 1], its global mean through a 1x1
  convolution to a 100-d style vector;
* :class:`InstantTransformer`: a photo in [0, 1] and that vector to the painted photo: contract
  (9x9, 3x3 s2, 3x3 s2; 8-16-32 channels, ReLU), five residual blocks, expand (nearest x2 + 3x3
  twice, then 9x9 to RGB), a sigmoid; every convolution past the contract is followed by a
  *conditional* instance norm whose gamma and beta are 1x1 convolutions (here: linear maps) of the
  vector; reflection padding everywhere. Any height and width: the photo is reflect-padded to a
  multiple of 4 and the picture cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nst.realtime.norm import instance_norm

VECTOR = 100  # the style vector's length (Magenta's style_prediction_bottleneck)
EPS = 1e-5  # conditional instance norm's epsilon (the graph's batchnorm/add/y)
MOBILENET = [  # expansion, output channels, repeats, first stride (MobileNetV2, Sandler et al. 2018)
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def same_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """TensorFlow's "SAME" padding: stride 2 pads only the bottom and right (for even sizes)."""
    k, s = conv.kernel_size[0], conv.stride[0]
    total = max(k - s, 0) if x.shape[-1] % s == 0 else max(k - x.shape[-1] % s, 0)
    total_h = max(k - s, 0) if x.shape[-2] % s == 0 else max(k - x.shape[-2] % s, 0)
    x = F.pad(x, (total // 2, total - total // 2, total_h // 2, total_h - total_h // 2))
    return conv(x)


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, expansion: int, stride: int):
        super().__init__()
        hidden = c_in * expansion
        self.expand = nn.Conv2d(c_in, hidden, 1) if expansion != 1 else None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, c_out, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.expand(x)) if self.expand is not None else x
        h = self.project(F.relu6(same_conv(h, self.depthwise)))
        return x + h if self.residual else h


class StylePredictor(nn.Module):
    """A painting Bx3xHxW in [0, 1] (256x256 as trained) -> its Bx100 style vector."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, 2)
        blocks, c_in = [], 32
        for expansion, c_out, repeats, stride in MOBILENET:
            for i in range(repeats):
                blocks.append(InvertedResidual(c_in, c_out, expansion, stride if i == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(c_in, 1280, 1)
        self.bottleneck = nn.Linear(1280, VECTOR)

    def forward(self, painting: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu6(same_conv(painting, self.stem)))
        return self.bottleneck(F.relu6(self.head(x)).mean((2, 3)))


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose gamma and beta come from the style vector (Dumoulin et al. 2017's
    conditional instance norm, Ghiasi et al.'s from a predicted vector)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Linear(VECTOR, channels)
        self.beta = nn.Linear(VECTOR, channels)

    def forward(self, x: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.gamma(vector)[..., None, None], self.beta(vector)[..., None, None]
        return instance_norm(x, eps=EPS) * gamma + beta


class ConvNorm(nn.Module):
    """Reflect pad, convolution, conditional instance norm (activation left to the caller)."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel)
        self.norm = ConditionalInstanceNorm(c_out)

    def forward(self, x: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        pad = self.conv.kernel_size[0] // 2
        return self.norm(self.conv(F.pad(x, (pad, pad, pad, pad), mode="reflect")), vector)


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1, self.conv2 = ConvNorm(channels, channels, 3), ConvNorm(channels, channels, 3)

    def forward(self, x: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x, vector)), vector)


class InstantTransformer(nn.Module):
    """``(photo Bx3xHxW in [0, 1], vector Bx100) -> picture Bx3xHxW in [0, 1]``, any H and W."""

    def __init__(self, widths: tuple[int, int, int] = (8, 16, 32), blocks: int = 5):
        super().__init__()
        a, b, c = widths
        self.contract = nn.ModuleList([nn.Conv2d(3, a, 9), nn.Conv2d(a, b, 3, 2), nn.Conv2d(b, c, 3, 2)])
        self.residual = nn.ModuleList([Residual(c) for _ in range(blocks)])
        self.expand = nn.ModuleList([ConvNorm(c, b, 3), ConvNorm(b, a, 3), ConvNorm(a, 3, 9)])

    def forward(self, photo: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        h, w = photo.shape[-2:]
        x = F.pad(photo, (0, (-w) % 4, 0, (-h) % 4), mode="reflect")  # a no-op at 0: one graph for every size
        for conv in self.contract:
            pad = conv.kernel_size[0] // 2
            x = F.relu(conv(F.pad(x, (pad, pad, pad, pad), mode="reflect")))
        for block in self.residual:
            x = block(x, vector)
        for i, layer in enumerate(self.expand):
            if i < 2:
                x = F.relu(layer(F.interpolate(x, scale_factor=2.0, mode="nearest"), vector))
            else:
                x = layer(x, vector)
        return torch.sigmoid(x)[..., :h, :w]
