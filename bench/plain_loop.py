"""The reference for ``bench/run.py``: Gatys et al. written as a plain PyTorch loop, with no
Lightning and none of the project's modules except the weights loader (so both sides run the same
numbers). Same work as the default run: VGG19 ``features`` cut after relu5_1, content relu4_2
(mean squared error, weight 1), style relu1_1..relu5_1 (Gram matrices / (C H W), squared
distance, 1/5 each, weight 1e-3), Adam lr 0.02, pixels clamped to [0, 1] after every step.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import vgg19

CONTENT_LAYER = 22  # relu4_2 in VGG19 ``features``
STYLE_LAYERS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1


def plain_vgg(state_dict: dict, device: torch.device) -> nn.Sequential:
    with torch.device("meta"):  # no random init of the unused classifier (400 MB)
        net = vgg19(weights=None).features[: STYLE_LAYERS[-1] + 1]
    kept = {k: v for k, v in state_dict.items() if int(k.split(".")[0]) < len(net)}
    net.load_state_dict(kept, assign=True)
    for i, module in enumerate(net):
        if isinstance(module, nn.ReLU):
            net[i] = nn.ReLU(inplace=False)
    return net.to(device).eval().requires_grad_(False)


def features(net: nn.Sequential, x: torch.Tensor) -> dict[int, torch.Tensor]:
    out = {}
    for i, module in enumerate(net):
        x = module(x)
        if i == CONTENT_LAYER or i in STYLE_LAYERS:
            out[i] = x
    return out


def gram(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    f = f.float().reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def run_plain(
    state_dict: dict,
    preprocessing,
    content: torch.Tensor,
    style: torch.Tensor,
    steps: int,
    device: torch.device,
    on_step: Callable[[int], None] = lambda step: None,
    precision: str = "32-true",
    channels_last: bool = False,
    compile: bool = False,
) -> torch.Tensor:
    """Optimise ``steps`` Adam steps; ``on_step(i)`` is called after step i (for timing).
    ``channels_last`` / ``compile``: the two usual speed-ups, to measure them (bench/run.py)."""
    net = plain_vgg(state_dict, device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    extract = torch.compile(features) if compile else features
    mean = torch.tensor(preprocessing.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std, device=device).view(1, 3, 1, 1)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")

    def normalize(x):
        return (x * preprocessing.scale - mean) / std

    with torch.no_grad(), autocast:
        content_target = features(net, normalize(content.to(device)))[CONTENT_LAYER].float()
        style_targets = {i: gram(f) for i, f in features(net, normalize(style.to(device))).items()
                         if i in STYLE_LAYERS}
    image = content.to(device).clone(memory_format=memory_format).requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.02)
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            feats = extract(net, normalize(image))
        content_loss = F.mse_loss(feats[CONTENT_LAYER].float(), content_target)
        style_loss = sum((gram(feats[i]) - style_targets[i]).pow(2).sum() / len(STYLE_LAYERS)
                         for i in STYLE_LAYERS)
        loss = content_loss + 1e-3 * style_loss
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        on_step(step)
    return image.detach()


if __name__ == "__main__":  # a quick look: python bench/plain_loop.py
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from nst.inputs.pair import pair_from_paths
    from nst.objective.network.weights import load_weights

    assets = Path(__file__).resolve().parent.parent / "assets"
    pair = pair_from_paths(str(assets / "building.jpg"), str(assets / "starry_night.jpg"), 128)
    w = load_weights("vgg19-caffe")
    start = time.perf_counter()
    run_plain(w.state_dict, w.preprocessing, pair.content, pair.styles[0], 10, torch.device("cpu"))
    print(f"10 steps at 128 px: {time.perf_counter() - start:.2f} s")
