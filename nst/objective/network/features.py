"""A frozen VGG19 that returns the activations of named layers for an RGB image in [0, 1]."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from torchvision.models import vgg19

from nst.errors import ConfigError, WeightsError
from nst.objective.network.layers import RGB, VGG19_LAYERS, layer_index, truncation_index
from nst.objective.network.weights import Preprocessing, VGGWeights

POOLING = ("max", "avg")


class VGGFeatures(nn.Module):
    """torchvision's VGG19 ``features``, truncated after the deepest requested layer.

    The input is normalised as the weights expect (``preprocessing``), a ReLU runs in place
    (saving one activation's memory and a pass) unless it follows a tapped conv output, which it
    would overwrite, and every parameter is frozen.
    ``pooling='avg'`` swaps max for average pooling (Gatys et al.) with the weights unchanged.
    """

    def __init__(
        self,
        weights: VGGWeights,
        layers: Iterable[str],
        pooling: str = "max",
        activation_checkpointing: bool = False,
    ):
        super().__init__()
        self.layers = sorted(set(layers), key=layer_index)
        if not self.layers:
            raise ConfigError("no VGG19 layers requested; name at least one, e.g. relu4_2")
        if pooling not in POOLING:
            raise ConfigError(f"unknown pooling '{pooling}'; valid: {', '.join(POOLING)}")
        with torch.device("meta"):  # no random initialisation: the weights replace it
            net = vgg19(weights=None).features
        try:
            net.load_state_dict(weights.state_dict, strict=True, assign=True)
        except RuntimeError as e:
            first = str(e).strip().splitlines()
            raise WeightsError(
                f"weights from {weights.source} do not fit VGG19 features "
                f"({' '.join(first[:2])[:300]}). Fix: use a VGG19 `features` state dict"
            ) from None
        depth = truncation_index(self.layers)
        tapped = {layer_index(n) for n in self.layers}
        modules = []
        for i, module in enumerate(list(net.children())[:depth]):
            if isinstance(module, nn.ReLU):
                module = nn.ReLU(inplace=i - 1 not in tapped)
            elif isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(kernel_size=2, stride=2)
            modules.append(module)
        self.net = nn.Sequential(*modules)
        self.net.eval().requires_grad_(False)
        self.preprocessing = weights.preprocessing
        p: Preprocessing = weights.preprocessing
        self.register_buffer("mean", torch.tensor(p.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(p.std).view(1, 3, 1, 1), persistent=False)
        self.scale = p.scale
        self._taps = {layer_index(n): n for n in self.layers}
        self.activation_checkpointing = activation_checkpointing
        # NHWC activations, oneDNN's and cuDNN's own layout: no reorder around each conv (0.86 s
        # against 1.06-1.15 s per 400 px bf16 step on CPU, docs/performance/benchmarks.md section 6); not on MPS
        self.channels_last = True

    def train(self, mode: bool = True):
        """Stay in eval mode whatever Lightning asks (the network is fixed)."""
        return super().train(False)

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        return (image * self.scale - self.mean) / self.std

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.normalize(image)
        if self.channels_last and x.device.type != "mps":
            x = x.contiguous(memory_format=torch.channels_last)
        if self.activation_checkpointing and torch.is_grad_enabled():
            return {RGB: image, **self._checkpointed(x)} if -1 in self._taps else self._checkpointed(x)
        out = {RGB: image} if -1 in self._taps else {}
        for i, module in enumerate(self.net):
            x = module(x)
            if i in self._taps:
                out[self._taps[i]] = x
        return out

    def _checkpointed(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Keep only the tapped activations (the losses need them anyway); everything between
        two taps is recomputed in the backward pass: 28% less memory per pixel for 33-47% more
        time per step (bench/memory.py, bench/run.py, docs/performance/benchmarks.md)."""
        out, start = {}, 0
        for tap in sorted(t for t in self._taps if t >= 0):
            segment = self.net[start: tap + 1]
            x = checkpoint(segment, x, use_reentrant=False)
            out[self._taps[tap]] = x
            start = tap + 1
        return out

    @property
    def depth(self) -> int:
        """Number of ``features`` modules kept (the truncation point)."""
        return len(self.net)

    @property
    def deepest_layer(self) -> str:
        return VGG19_LAYERS[self.depth - 1]
