"""A folder of many photos through a trained style in one command, killed part-way and resumed.

    python bench/fast_folder.py --model outputs/fast_starry_cpu/version_0/checkpoints/last.ckpt \\
        --photos /tmp/photos --count 1000 --size 512 --kill-after 60

Makes ``--count`` photos (640x480 JPEG crops, some flipped, of the photos in ``--photos``;
the same set every time) under ``--work``, then runs ``python train.py stylize --model M --input
DIR --output OUT --size N`` three times: killed with SIGKILL after ``--kill-after`` seconds, run to
the end, and once more (nothing left to do). It checks that every output is a whole PNG (a kill
never leaves a torn one: outputs are written to a temporary name and renamed) and prints a table:
wall time, outputs written and found finished, per photo.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def make_photos(source: Path, folder: Path, count: int) -> list[Path]:
    """``count`` 640x480 JPEGs cut from the photos under ``source`` (seeded: the same set each time)."""
    sources = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not sources:
        sys.exit(f"error: no photos under {source}. Fix: --photos a folder of JPEG/PNG photos")
    folder.mkdir(parents=True, exist_ok=True)
    rng, made = random.Random(0), []
    for i in range(count):
        path = folder / f"{i // 100:02d}" / f"photo_{i:04d}.jpg"  # 100 a subfolder, as a photo library
        made.append(path)
        if path.is_file():
            continue
        path.parent.mkdir(exist_ok=True)
        with Image.open(sources[i % len(sources)]) as image:
            image = image.convert("RGB")
            scale = 480 / min(image.size) * rng.uniform(1.0, 1.5)
            image = image.resize((max(640, round(image.width * scale)), max(480, round(image.height * scale))))
            x, y = rng.randrange(image.width - 639), rng.randrange(image.height - 479)
            image = image.crop((x, y, x + 640, y + 480))
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            image.save(path, quality=90)
    return made


def stylize(args, out: Path, kill_after: float | None) -> tuple[float, str]:
    command = [sys.executable, str(ROOT / "train.py"), "stylize", "--model", args.model, "--input",
               str(Path(args.work) / "photos"), "--output", str(out), "--size", str(args.size),
               "--precision", args.precision]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        text, _ = process.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        text, _ = process.communicate()
        text += "(killed)"
    return time.perf_counter() - began, text.strip().splitlines()[-1] if text.strip() else ""


def whole_pngs(out: Path) -> tuple[int, int]:
    """(outputs that decode, other files under ``out``: torn or temporary)."""
    good = bad = 0
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        try:
            with Image.open(path) as image:
                image.load()
            good += path.suffix == ".png"
            bad += path.suffix != ".png"
        except Exception:
            bad += 1
    return good, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="last.ckpt of a real-time training run, or its .onnx")
    parser.add_argument("--photos", required=True, help="a folder of photos to cut the set from")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--precision", default="32", choices=("32", "bf16"))
    parser.add_argument("--kill-after", type=float, default=60.0)
    parser.add_argument("--work", default="/tmp/nst_fast_folder")
    args = parser.parse_args()
    photos = make_photos(Path(args.photos), Path(args.work) / "photos", args.count)
    out = Path(args.work) / f"styled_{Path(args.model).stem}_{args.size}_{args.precision}"
    if out.exists():
        sys.exit(f"error: {out} exists. Fix: remove it (the bench starts from an empty output folder)")
    rows = []
    for name, kill in (("killed (SIGKILL)", args.kill_after), ("resumed", None), ("again", None)):
        before = whole_pngs(out)[0] if out.exists() else 0
        seconds, last = stylize(args, out, kill)
        good, bad = whole_pngs(out)
        rows.append((name, seconds, good - before, good, bad, last))
    print(f"{len(photos)} photos 640x480 under {args.work}/photos, --size {args.size}, --precision {args.precision}, "
          f"{os.environ.get('OMP_NUM_THREADS', 'all')} thread(s), model {args.model}")
    print("| run | wall | new outputs | outputs in all | torn or stray files | per new output | last line |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, seconds, new, good, bad, last in rows:
        each = f"{seconds / new * 1000:.0f} ms" if new else ""
        print(f"| {name} | {seconds:.1f} s | {new} | {good} | {bad} | {each} | {last} |")
    if rows[-1][3] != len(photos) or any(r[4] for r in rows):
        sys.exit("error: the folder was not finished whole")


if __name__ == "__main__":
    main()
