"""Does a config look alike at every resolution? Measure, at step 0, the norms of the image
gradients of the weighted style and content losses at several sizes, and their ratio.

Adam ignores a global gradient scale, so what sets the look is the ratio style/content; a ratio
that does not move with the size means a 256 px preview predicts the 1024 px result.

    python bench/strength_across_sizes.py [--sizes 256 512] [--init content+noise] [--style_loss gram]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.inputs.pair import pair_from_paths  # noqa: E402
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective  # noqa: E402
from nst.model.strength import strength_factor  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def gradient_norms(size: int, args, vgg: VGGFeatures, definition: LossDefinition) -> tuple[float, float]:
    """||∇(β style)||, ||∇(α content)|| at the start image, β as a run at ``size`` sets it."""
    pair = pair_from_paths(str(ASSETS / "building.jpg"), str(ASSETS / "starry_night.jpg"), size, init=args.init)
    alpha, beta = definition.default_weights()
    objective = StyleObjective.build(vgg, definition, pair.target_content, pair.target_styles,
                                     LossWeights(alpha, beta), pair.blend, seed=pair.seed)
    if args.reference and args.reference != size:
        beta *= strength_factor(objective, definition, pair, args.reference)
    norms = []
    for part, weight in (("style", beta), ("content", alpha)):  # as trained
        image = pair.start.clone().requires_grad_(True)
        (weight * objective(image)[part]).backward()
        norms.append(image.grad.norm().item())
    return norms[0], norms[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--init", default="content+noise")
    parser.add_argument("--style_loss", default="gram")
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--reference", type=int, default=None,
                        help="strength_reference_size (off by default: the raw drift)")
    args = parser.parse_args()
    definition = LossDefinition.from_config(style_loss=args.style_loss)
    vgg = VGGFeatures(load_weights(args.weights), definition.layers)
    rows = [(size, *gradient_norms(size, args, vgg, definition)) for size in args.sizes]
    base = rows[0][1] / rows[0][2]
    print(f"style loss {args.style_loss}, init {args.init}, weights {args.weights}, "
          f"strength_reference_size {args.reference}\n")
    print("| size | grad norm style | grad norm content | style/content | relative to first |")
    print("| --- | --- | --- | --- | --- |")
    for size, style, content in rows:
        print(f"| {size} | {style:.4g} | {content:.4g} | {style / content:.4g} | {style / content / base:.3f} |")


if __name__ == "__main__":
    main()
