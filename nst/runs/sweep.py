"""Sweeps: one config run several times with one or more knobs changed (``nst.runs.plan`` runs
them), and the contact sheet that compares the results.

    python train.py --config starry.yaml --sweep model.style_loss=gram,mean_std,wasserstein2
    python train.py --config starry.yaml --sweep model.style_weight=1e-4,1e-3,1e-2

Several ``--sweep`` options give their cartesian product. Each variant is an ordinary run in
``<output_dir>/<run_name>/sweep_N/<key=value>/version_0/``; the sweep writes a labelled contact
sheet of the final images (with the fixed evaluation metrics) as ``sweep_N/contact_sheet.png``
and to TensorBoard.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from torchvision.transforms.functional import pil_to_tensor

from nst.errors import ConfigError


def split_sweeps(argv: list[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Take the ``--sweep key=v1,v2`` options out of ``argv``."""
    rest, sweeps, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--sweep" or arg.startswith("--sweep="):
            if arg == "--sweep":
                if i + 1 >= len(argv):
                    raise ConfigError("--sweep needs key=v1,v2,... e.g. model.style_loss=gram,mean_std")
                spec, i = argv[i + 1], i + 1
            else:
                spec = arg.split("=", 1)[1]
            key, eq, values = spec.partition("=")
            values = [v.strip() for v in values.split(",") if v.strip()]
            if not eq or not key or not values:
                raise ConfigError(f"--sweep {spec!r}: use key=v1,v2,... e.g. model.style_weight=1e2,1e3")
            sweeps.append((key.removeprefix("--"), values))
        else:
            rest.append(arg)
        i += 1
    return rest, sweeps


def variants(sweeps: list[tuple[str, list[str]]]) -> list[list[tuple[str, str]]]:
    keys = [k for k, _ in sweeps]
    return [list(zip(keys, combo)) for combo in itertools.product(*(v for _, v in sweeps))]


def label(variant: list[tuple[str, str]]) -> str:
    return ",".join(f"{k.split('.')[-1]}={v}" for k, v in variant)


def next_group_dir(root: Path, prefix: str = "sweep") -> Path:
    """``root/<prefix>_N`` with the first unused N, so a group of runs never overwrites another."""
    pattern = re.compile(rf"{re.escape(prefix)}_(\d+)")
    taken = [int(m.group(1)) for p in root.glob(f"{prefix}_*") if (m := pattern.fullmatch(p.name))]
    return root / f"{prefix}_{max(taken, default=-1) + 1}"


def write_contact_sheet(sweep_dir: Path, results: list[tuple[str, Path, Path]]) -> Path:
    """The sheet of (label, final.png, run folder with metrics.json) as ``contact_sheet.png``
    and in TensorBoard; returns its path."""
    from torch.utils.tensorboard import SummaryWriter

    entries = []
    for name, final, run_dir in results:
        metrics_file = run_dir / "metrics.json"
        entries.append((name, final, json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}))
    sheet = contact_sheet(entries)
    path = sweep_dir / "contact_sheet.png"
    sheet.save(path)
    with SummaryWriter(str(sweep_dir)) as writer:
        writer.add_image("contact_sheet", pil_to_tensor(sheet), 0)
    print(f"nst: contact sheet of {len(results)} runs: {path}")
    return path


def contact_sheet(results: list[tuple[str, Path, dict]], columns: int | None = None) -> Image.Image:
    """Final images side by side, each with its label and the evaluation metrics under it."""
    images = [Image.open(path).convert("RGB") for _, path, _ in results]
    columns = columns or min(len(images), 4)
    rows = -(-len(images) // columns)
    width = max(im.width for im in images)
    height = max(im.height for im in images)
    font = ImageFont.load_default(size=13)
    caption = 36
    sheet = Image.new("RGB", (columns * (width + 8) + 8, rows * (height + caption + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for i, ((text, _, metrics), im) in enumerate(zip(results, images)):
        x = 8 + (i % columns) * (width + 8)
        y = 8 + (i // columns) * (height + caption + 8)
        sheet.paste(im, (x, y))
        draw.text((x, y + height + 2), text, fill="black", font=font)
        if metrics:
            stats = (f"gram {metrics['eval/gram_distance']:.3g}  swd {metrics['eval/sliced_wasserstein']:.3g}"
                     f"  ssim {metrics['eval/ssim_content']:.2f}")
            draw.text((x, y + height + 18), stats, fill="#444444", font=font)
    return sheet

