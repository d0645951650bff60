"""Pictures of what the network sees: the most active feature maps and the Gram matrices.

    python -m nst.objective.visualize --image assets/building.jpg --layers relu1_1,relu3_1,relu5_1 --out viz

writes ``<image>_<layer>_features.png`` (the ``top_k`` most active channels, each scaled to
[0, 1]) and ``<image>_<layer>_gram.png`` (the Gram matrix as a heat map) for every layer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torchvision.utils import make_grid

from nst.errors import NSTError
from nst.objective.network.features import VGGFeatures
from nst.media.images import load_image, resize_long_side, save_image
from nst.objective.network.layers import parse_layer_weights
from nst.objective.losses import gram_matrix
from nst.objective.network.weights import load_weights

# A perceptually ordered dark-to-bright map (black, purple, red, orange, yellow, white).
HEAT_COLOURS = torch.tensor(
    [[0, 0, 0], [0.33, 0.06, 0.42], [0.73, 0.21, 0.33], [0.98, 0.55, 0.04], [0.99, 0.91, 0.35], [1, 1, 1]]
)


def heat_map(values: torch.Tensor) -> torch.Tensor:
    """H x W values -> 3 x H x W colours, scaled so that min is black and max is white."""
    v = values.float()
    v = (v - v.min()) / (v.max() - v.min()).clamp(min=1e-12)
    position = v * (len(HEAT_COLOURS) - 1)
    low = position.floor().long().clamp(max=len(HEAT_COLOURS) - 2)
    frac = (position - low).unsqueeze(-1)
    colours = HEAT_COLOURS.to(v.device)
    return torch.lerp(colours[low], colours[low + 1], frac).permute(2, 0, 1)


def top_channels(features: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` channels of a 1 x C x H x W map with the largest mean activation, as a grid."""
    f = features[0].float()
    index = f.mean(dim=(1, 2)).topk(min(k, f.shape[0])).indices
    maps = f[index]
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    maps = ((maps - low) / (high - low).clamp(min=1e-12)).unsqueeze(1)
    return make_grid(maps, nrow=min(k, 8), padding=2, pad_value=1.0)


def gram_picture(features: torch.Tensor, size: int = 256) -> torch.Tensor:
    """The Gram matrix as a heat map (sqrt-scaled so that weak correlations show), upsampled."""
    gram = gram_matrix(features)[0].clamp(min=0).sqrt()
    picture = heat_map(gram).unsqueeze(0)
    scale = max(1, size // gram.shape[0])
    return torch.nn.functional.interpolate(picture, scale_factor=scale, mode="nearest")[0]


def layer_pictures(vgg: VGGFeatures, image: torch.Tensor, layers, top_k: int = 8) -> dict[str, torch.Tensor]:
    """``{"<layer>/features": grid, "<layer>/gram": heat map}`` for one image."""
    with torch.no_grad():
        features = vgg(image)
    pictures = {}
    for layer in layers:
        pictures[f"{layer}/features"] = top_channels(features[layer], top_k)
        pictures[f"{layer}/gram"] = gram_picture(features[layer])
    return pictures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nst.objective.visualize", description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, action="append", help="image file (repeatable)")
    parser.add_argument("--layers", default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--size", type=int, default=400, help="longest side in pixels")
    parser.add_argument("--top_k", type=int, default=16)
    parser.add_argument("--weights", default="vgg19-caffe")
    args = parser.parse_args(argv)
    try:
        layers = list(parse_layer_weights(args.layers, "--layers"))
        vgg = VGGFeatures(load_weights(args.weights), layers)
        out = Path(args.out)
        for path in args.image:
            image = resize_long_side(load_image(path), args.size)
            for tag, picture in layer_pictures(vgg, image, layers, args.top_k).items():
                layer, kind = tag.split("/")
                written = save_image(picture, out / f"{Path(path).stem}_{layer}_{kind}.png")
                print(written)
    except NSTError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
