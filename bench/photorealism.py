"""Photorealistic transfer measured: structure kept against style matched, with and without the
matting term (``configs/photo.yaml``, ``nst.objective.losses.matting``).

    OMP_NUM_THREADS=2 python bench/photorealism.py --weights /work/shared/vgg19/vgg19_features.safetensors \\
        --pair day-dusk:/path/day.jpg:/path/dusk.jpg --lambdas 0,1e8,1e9 --style-weights 3e-4,1e-3,3e-3 \\
        --out outputs/photorealism

Every (lambda, style weight) of each pair is one run of ``nst.stylize(photo, style, config="photo")``
(the shipped config: 200 Adam steps from the photo, at ``--size``), with ``content_layers``
``{relu4_2: 1, rgb: lambda}``; lambda 0 is the plain Gram run. Each picture is measured by the
same fixed yardsticks, which neither run optimises as such: SSIM of luminance to the photo and
the sliced Wasserstein distance of VGG features to the style photo (``nst.objective.metrics``),
and **edges kept**: the correlation of the Sobel gradient magnitude of the result's luminance
with the photo's (1: the same edges; new edges or lost ones lower it). The table compares each
photorealistic run with the Gram runs *at the same style distance* (their SSIM and edges
interpolated in log swd between the two Gram runs around it). Runs already in
``<out>/runs.json`` are skipped, so a stopped sweep resumes; ``contact_sheet.png`` shows them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst.media.images import load_image, resize_long_side, save_image  # noqa: E402
from nst.objective.metrics import EVAL_LAYERS, StyleTransferMetrics  # noqa: E402
from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402


def luminance(image: torch.Tensor) -> torch.Tensor:
    return (image * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)


def edges(image: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the luminance, 1 x 1 x H x W."""
    sobel = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    kernels = torch.stack([sobel, sobel.T])[:, None]
    g = F.conv2d(F.pad(luminance(image), (1, 1, 1, 1), mode="replicate"), kernels)
    return g.square().sum(1, keepdim=True).sqrt()


def edges_kept(result: torch.Tensor, photo: torch.Tensor) -> float:
    a, b = edges(result).flatten(), edges(photo).flatten()
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / (a.norm() * b.norm()).clamp(min=1e-12))


def run(photo: Path, style: Path, lam: float, style_weight: float, args) -> torch.Tensor:
    rgb = {"relu4_2": 1, "rgb": lam} if lam else {"relu4_2": 1}
    return nst.stylize(str(photo), str(style), config="photo", size=args.size, steps=args.steps,
                       weights=args.weights, style_weight=style_weight, return_tensor=True,
                       **{"model.content_layers": rgb, "model.content_loss": "photorealistic" if lam else "mse"})


def at_gram_distance(gram: list[dict], swd: float, key: str) -> float:
    """The Gram runs' ``key`` at style distance ``swd``, interpolated in log swd (nan outside)."""
    points = sorted((math.log(r["swd"]), r[key]) for r in gram)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= math.log(swd) <= x1:
            return y0 + (y1 - y0) * (math.log(swd) - x0) / max(x1 - x0, 1e-12)
    return float("nan")


def report(runs: list[dict], out: Path) -> list[str]:
    rows = ["| pair | lambda (rgb) | style weight | swd to the style photo | SSIM to the photo | edges kept | "
            "Gram at this swd: SSIM | Gram at this swd: edges |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in sorted(runs, key=lambda r: (r["pair"], r["lambda"], r["style_weight"])):
        gram = [g for g in runs if g["pair"] == r["pair"] and g["lambda"] == 0]
        same = ("", "") if r["lambda"] == 0 else (f"{at_gram_distance(gram, r['swd'], 'ssim'):.3f}",
                                                  f"{at_gram_distance(gram, r['swd'], 'edges'):.3f}")
        rows.append(f"| {r['pair']} | {r['lambda']:g} | {r['style_weight']:g} | {r['swd']:.4g} | {r['ssim']:.3f} | "
                    f"{r['edges']:.3f} | {same[0]} | {same[1]} |")
    (out / "table.md").write_text("\n".join(rows) + "\n")
    return rows


def contact_sheet(runs: list[dict], pairs: dict, out: Path, size: int) -> None:
    from PIL import Image, ImageDraw

    rows = []
    for name, (photo, style) in pairs.items():
        mine = sorted((r for r in runs if r["pair"] == name), key=lambda r: (r["lambda"], r["style_weight"]))
        tiles = [(Image.open(photo).convert("RGB"), "photo"), (Image.open(style).convert("RGB"), "style")]
        tiles += [(Image.open(r["picture"]).convert("RGB"), f"l={r['lambda']:g} s={r['style_weight']:g} "
                   f"ssim {r['ssim']:.2f}") for r in mine]
        rows.append(tiles)
    width = max(len(r) for r in rows)
    sheet = Image.new("RGB", (width * size, len(rows) * (size + 16)), "white")
    draw = ImageDraw.Draw(sheet)
    for y, tiles in enumerate(rows):
        for x, (image, label) in enumerate(tiles):
            image.thumbnail((size, size))
            sheet.paste(image, (x * size, y * (size + 16)))
            draw.text((x * size + 2, y * (size + 16) + size + 2), label, fill="black")
    sheet.save(out / "contact_sheet.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", action="append", required=True, help="name:photo:style (repeatable)")
    parser.add_argument("--lambdas", default="0,1e8,1e9")
    parser.add_argument("--style-weights", default="3e-4,1e-3,3e-3")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--out", default=str(ROOT / "outputs" / "photorealism"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = {name: (Path(photo), Path(style)) for name, photo, style in (p.split(":") for p in args.pair)}
    done_file = out / "runs.json"
    runs = json.loads(done_file.read_text()) if done_file.exists() else []
    vgg = VGGFeatures(load_weights(args.weights), EVAL_LAYERS)
    for name, (photo, style) in pairs.items():
        photo_t = resize_long_side(load_image(photo), args.size)
        metrics = StyleTransferMetrics(vgg, photo_t, [resize_long_side(load_image(style), args.size)])
        for lam in (float(x) for x in args.lambdas.split(",")):
            for style_weight in (float(x) for x in args.style_weights.split(",")):
                if any(r["pair"] == name and r["lambda"] == lam and r["style_weight"] == style_weight for r in runs):
                    continue
                result = run(photo, style, lam, style_weight, args)
                result = F.interpolate(result, size=photo_t.shape[-2:], mode="area") \
                    if result.shape[-2:] != photo_t.shape[-2:] else result
                measured = metrics(result)
                picture = out / f"{name}_l{lam:g}_s{style_weight:g}.png"
                save_image(result, picture)
                runs.append({"pair": name, "lambda": lam, "style_weight": style_weight, "picture": str(picture),
                             "swd": float(measured["eval/sliced_wasserstein"]),
                             "ssim": float(measured["eval/ssim_content"]), "edges": edges_kept(result, photo_t)})
                done_file.write_text(json.dumps(runs, indent=1))
                print(report(runs, out)[-1], flush=True)
    print("\n".join(report(runs, out)))
    contact_sheet(runs, pairs, out, 200)
    print(f"wrote {out}/table.md, runs.json, contact_sheet.png")


if __name__ == "__main__":
    main()
