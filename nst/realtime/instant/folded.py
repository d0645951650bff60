"""The instant network made a plain per-painting network, to fine-tune to one painting: the
painting's style vector is folded into each conditional instance norm, whose gamma(v) and
beta(v) become an ``nn.InstanceNorm2d``'s own weight and bias. Before any training step it paints
exactly what :class:`~nst.realtime.instant.network.InstantTransformer` paints with that vector;
training then moves either those norms alone (Dumoulin et al. 2017: a style is its norms' scales
and shifts) or every weight. A checkpoint holds the whole network, so applying it needs neither
the pretrained weights nor the painting; it scripts and exports as the other style networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nst.realtime.instant.network import EPS, InstantTransformer
from nst.realtime.norm import InstanceNorm2d


class FoldedConvNorm(nn.Module):
    """Reflect pad, convolution, instance norm with the painting's gamma and beta as its affine."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv2d(c_in, c_out, kernel)
        self.norm = InstanceNorm2d(c_out, eps=EPS, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(F.pad(x, (self.pad, self.pad, self.pad, self.pad), mode="reflect")))


class FoldedResidual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1, self.conv2 = FoldedConvNorm(channels, channels, 3), FoldedConvNorm(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class FoldedUpsample(nn.Module):
    """Nearest x2, then the folded convolution and norm, ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.layer = FoldedConvNorm(c_in, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.layer(F.interpolate(x, scale_factor=2.0, mode="nearest")))


class InstantNet(nn.Module):
    """A photo Bx3xHxW in [0, 1] to its picture in one painting's style, any H and W: the
    instant transformer with one vector folded in (:meth:`fold`)."""

    def __init__(self, widths: tuple[int, int, int] = (8, 16, 32), blocks: int = 5):
        super().__init__()
        a, b, c = widths
        self.contract = nn.ModuleList([nn.Conv2d(3, a, 9), nn.Conv2d(a, b, 3, 2), nn.Conv2d(b, c, 3, 2)])
        self.residual = nn.Sequential(*(FoldedResidual(c) for _ in range(blocks)))
        self.upsample = nn.Sequential(FoldedUpsample(c, b), FoldedUpsample(b, a))
        self.last = FoldedConvNorm(a, 3, 9)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        x = F.pad(image, (0, (-w) % 4, 0, (-h) % 4), mode="reflect")  # a no-op at 0: one graph for every size
        for conv in self.contract:
            pad = conv.kernel_size[0] // 2
            x = F.relu(conv(F.pad(x, (pad, pad, pad, pad), mode="reflect")))
        x = self.last(self.upsample(self.residual(x)))
        return torch.sigmoid(x)[..., :h, :w]

    def norms(self) -> list[nn.InstanceNorm2d]:
        return [m for m in self.modules() if isinstance(m, nn.InstanceNorm2d)]

    def train_norms_only(self) -> None:
        """Gamma and beta learn, every convolution stays the pretrained one."""
        self.requires_grad_(False)
        for norm in self.norms():
            norm.requires_grad_(True)

    @torch.no_grad()
    def fold(self, transformer: InstantTransformer, vector: torch.Tensor) -> InstantNet:
        """This network's weights set to ``transformer``'s with the 1x100 ``vector`` folded in
        (copied into the existing parameters: an optimiser made before keeps them)."""
        source = dict(transformer.named_modules())
        for name, module in self.named_modules():
            if isinstance(module, nn.Conv2d):
                twin = source[transformer_name(name)]
                module.weight.copy_(twin.weight)
                module.bias.copy_(twin.bias)
            elif isinstance(module, nn.InstanceNorm2d):
                twin = source[transformer_name(name)]
                module.weight.copy_(twin.gamma(vector.float())[0])
                module.bias.copy_(twin.beta(vector.float())[0])
        return self


def transformer_name(name: str) -> str:
    """A module's name in :class:`InstantTransformer` (``upsample.0.layer`` -> ``expand.0``,
    ``last`` -> ``expand.2``; the rest alike)."""
    if name.startswith("upsample."):
        parts = name.split(".")
        return ".".join(["expand", parts[1], *parts[3:]])
    return name.replace("last", "expand.2", 1) if name.startswith("last") else name
