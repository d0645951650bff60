"""Automatic masks measured: does each region of the photo keep its structure and take the
matching region's style (``data.content_masks: [auto]`` or ``[subject]``, ``nst.inputs.automasks``)?

    OMP_NUM_THREADS=2 python bench/automasks.py --weights /work/shared/vgg19/vgg19_features.safetensors \\
        --pair landscape:/path/mountains.jpg:assets/starry_night.jpg --pair portrait:/path/face.png:assets/starry_night.jpg \\
        --kinds none,auto,subject --out outputs/automasks

For each pair, one run per kind (``none``: one style statistic for the whole photo, today's
default) through ``nst.stylize(photo, painting, config="starry")`` at ``--size``. Each picture is
measured inside the photo's regions (those ``[auto]`` finds, and GrabCut's subject and the rest):
SSIM of luminance to the photo averaged over the region (torchmetrics' SSIM map weighted by the
region's soft mask), and for the whole picture the sliced Wasserstein distance to the painting.
A kind that refuses a pair (GrabCut finds no subject in a landscape painting) is listed with its
one-line reason. ``contact_sheet.png``: photo, painting, both images' regions (a matched pair has
one colour), then each kind's picture.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst.errors import NSTError  # noqa: E402
from nst.inputs.automasks import auto_masks  # noqa: E402
from nst.media.images import load_image, resize, resize_long_side, save_image  # noqa: E402
from nst.objective.metrics import EVAL_LAYERS, StyleTransferMetrics, luminance  # noqa: E402
from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402

COLOURS = torch.tensor([[0.9, 0.2, 0.2], [0.2, 0.4, 0.95], [0.2, 0.8, 0.3]])


def ssim_map(image: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    from torchmetrics.functional.image import structural_similarity_index_measure

    _, full = structural_similarity_index_measure(luminance(image), luminance(photo), data_range=1.0,
                                                  return_full_image=True)
    return full


def regions_of(photo: torch.Tensor, painting: torch.Tensor) -> dict[str, tuple]:
    """kind -> (photo masks k x 1 x H x W, painting masks, names), or the one-line refusal."""
    found = {}
    for kind in ("auto", "subject"):
        try:
            _, _, masks = auto_masks(photo, painting, kind=kind)
        except NSTError as e:
            found[kind] = str(e)
            continue
        names = ["subject", "rest"] if kind == "subject" else [f"region {i + 1}" for i in range(len(masks))]
        found[kind] = (torch.cat([m[1] for m in masks]), torch.cat([m[0] for m in masks]), names)
    return found


def overlay(image: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    colour = (masks[:, 0, None] * COLOURS[: len(masks), :, None, None]).sum(0, keepdim=True)
    return 0.45 * image + 0.55 * colour


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", action="append", required=True, help="name:photo:painting (repeatable)")
    parser.add_argument("--kinds", default="none,auto,subject")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--out", default=str(ROOT / "outputs" / "automasks"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    vgg = VGGFeatures(load_weights(args.weights), EVAL_LAYERS)
    rows = ["| pair | masks | SSIM (whole) | SSIM inside each of the photo's regions | sliced Wasserstein to the painting |",
            "| --- | --- | ---: | --- | ---: |"]
    sheet_rows = []
    for name, photo_path, painting_path in (p.split(":") for p in args.pair):
        photo = resize_long_side(load_image(photo_path), args.size)
        painting = resize_long_side(load_image(painting_path), args.size)
        metrics = StyleTransferMetrics(vgg, photo, [painting])
        found = regions_of(photo, painting)
        tiles = [photo, resize(painting, tuple(photo.shape[-2:]))]
        for kind in ("auto", "subject"):
            if not isinstance(found[kind], str):
                tiles += [overlay(photo, found[kind][0]), resize(overlay(painting, found[kind][1]), tuple(photo.shape[-2:]))]
        for kind in args.kinds.split(","):
            if kind != "none" and isinstance(found[kind], str):
                rows.append(f"| {name} | [{kind}] | refused: {found[kind]} | | |")
                continue
            options = {} if kind == "none" else {"content_masks": [kind]}
            result = nst.stylize(photo_path, painting_path, config="starry", size=args.size, steps=args.steps,
                                 weights=args.weights, return_tensor=True, **options)
            result = resize(result, tuple(photo.shape[-2:])) if result.shape[-2:] != photo.shape[-2:] else result
            save_image(result, out / f"{name}_{kind}.png")
            tiles.append(result)
            full = ssim_map(result, photo)
            inside = []
            for region_kind in ("auto", "subject"):
                if isinstance(found[region_kind], str):
                    continue
                masks, _, names = found[region_kind]
                for mask, region in zip(masks, names):
                    inside.append(f"{region_kind} {region}: {float((full * mask).sum() / mask.sum()):.3f}")
            measured = metrics(result)
            rows.append(f"| {name} | {kind if kind == 'none' else f'[{kind}]'} | {measured['eval/ssim_content']:.3f} | "
                        f"{'; '.join(inside)} | {measured['eval/sliced_wasserstein']:.4g} |")
            print(rows[-1], flush=True)
        sheet_rows.append(tiles)
    width = max(len(r) for r in sheet_rows)
    h, w = sheet_rows[0][0].shape[-2:]
    sheet = torch.ones(1, 3, len(sheet_rows) * (h + 4), width * (w + 4))
    for y, tiles in enumerate(sheet_rows):
        for x, tile in enumerate(tiles):
            tile = resize(tile, (h, w))
            sheet[..., y * (h + 4): y * (h + 4) + h, x * (w + 4): x * (w + 4) + w] = tile.clamp(0, 1)
    save_image(sheet, out / "contact_sheet.png")
    (out / "table.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    print(f"wrote {out}/table.md, contact_sheet.png")


if __name__ == "__main__":
    main()
