"""Measure the default weight of every registered loss (the ``default_weight`` in the registry).

Each style loss gets the weight at which the norm of its gradient with respect to the image, at
the first step of a content-initialised run, equals that of ``gram`` at style_weight 1e-3; each
content loss the weight at which its gradient norm from a noise image equals ``mse``'s at 1.
Each on its own default layers (hypercolumn losses: all of them at once, at the sampled
positions of step 0; ``nnst`` with the photo's features, which its target is made of).
So every loss starts with the same pull, and a sweep over loss names compares like with like.

    python bench/calibrate_losses.py [--size 256] [--weights vgg19-caffe]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.inputs.pair import pair_from_paths  # noqa: E402
from nst.objective.network.layers import parse_layer_weights  # noqa: E402
from nst.objective.losses import CONTENT_LOSSES, STYLE_LOSSES, build_layer_losses  # noqa: E402
from nst.objective.style_objective import GATYS_STYLE_LAYERS  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def grad_norm(vgg, losses, image):
    image = image.clone().requires_grad_(True)
    value = losses(vgg(image))
    (grad,) = torch.autograd.grad(value, image)
    return value.item(), grad.norm().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--content", default=str(ASSETS / "building.jpg"))
    parser.add_argument("--style", default=str(ASSETS / "starry_night.jpg"))
    args = parser.parse_args()
    torch.manual_seed(0)
    pair = pair_from_paths(args.content, args.style, args.size)
    content, style = pair.content, pair.styles[0]
    noise = torch.rand_like(content)
    layers = {n: parse_layer_weights(e.default_layers or GATYS_STYLE_LAYERS) for n, e in STYLE_LOSSES.items()}
    content_layers = {n: parse_layer_weights(e.default_layers or ("relu4_2",)) for n, e in CONTENT_LOSSES.items()}
    all_layers = {l for ls in [*layers.values(), *content_layers.values()] for l in ls}
    vgg = VGGFeatures(load_weights(args.weights), all_layers)
    with torch.no_grad():
        content_features, style_features = vgg(content), vgg(style)

    print("| style loss | layers | loss at start | grad norm | weight for gram@1e-3 pull | registry |")
    print("| --- | --- | --- | --- | --- | --- |")
    reference = None
    for name in ["gram"] + sorted(set(STYLE_LOSSES) - {"gram"}):
        losses = build_layer_losses("style", name, None, style_features, layers[name],
                                    content_features=content_features)
        value, norm = grad_norm(vgg, losses, content)
        reference = reference or 1e-3 * norm
        print(f"| {name} | {','.join(layers[name])} | {value:.4g} | {norm:.4g} | "
              f"{reference / norm:.3g} | {STYLE_LOSSES[name].default_weight:g} |")
    print()
    print("| content loss | loss from noise | grad norm | weight for mse@1 pull | registry |")
    print("| --- | --- | --- | --- | --- |")
    reference = None
    for name in ["mse"] + sorted(set(CONTENT_LOSSES) - {"mse"}):
        losses = build_layer_losses("content", name, None, content_features, content_layers[name])
        value, norm = grad_norm(vgg, losses, noise)
        reference = reference or norm
        print(f"| {name} | {value:.4g} | {norm:.4g} | {reference / norm:.3g} | "
              f"{CONTENT_LOSSES[name].default_weight:g} |")


if __name__ == "__main__":
    main()
