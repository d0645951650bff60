"""Images per hour: one pair at a time, a batch of pairs, and a batch sharded over DDP processes.

    python bench/throughput.py                         # 4 pairs at 256 px, CPU
    python bench/throughput.py --pairs 8 --size 512 --devices 2 --accelerator cuda

Each mode runs ``train.py`` as a separate process twice, for ``--short`` and ``--long`` steps;
the difference gives the seconds per step and the rest the start-up (imports, weights, targets,
DDP set-up). Images per hour are for runs of ``--steps-per-image`` steps (default 300, the shipped
config), start-up included. The pairs are copies of the bundled photo with Starry Night (same
size, so one batch parameter).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"


def wall_time(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"train.py failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--devices", type=int, default=2, help="DDP processes for the last mode")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--long", type=int, default=30)
    parser.add_argument("--steps-per-image", type=int, default=300)
    parser.add_argument("--weights", default="vgg19-caffe")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for i in range(opts.pairs):
            shutil.copy(ASSETS / "home.jpg", photos / f"photo{i}.jpg")
        common = ["--data.style", str(ASSETS / "starry_night.jpg"), "--data.size", str(opts.size),
                  "--model.weights", opts.weights, "--model.strength_reference_size", "null",
                  "--trainer.accelerator", opts.accelerator, "--trainer.precision", opts.precision,
                  "--trainer.enable_progress_bar", "false", "--output_dir", str(Path(tmp) / "out")]
        modes = {
            "one pair at a time": (1, ["--data.content", str(photos / "photo0.jpg")]),
            f"batch of {opts.pairs}": (opts.pairs, ["--data.content", str(photos)]),
            f"batch of {opts.pairs}, DDP x{opts.devices}": (opts.pairs, [
                "--data.content", str(photos), "--trainer.devices", str(opts.devices),
                "--trainer.strategy", "ddp"]),
        }
        print(f"{opts.size} px, {opts.accelerator}, {opts.precision}, {opts.steps_per_image} steps per image\n")
        print("| mode | images per run | s/step | start-up s | images/hour | vs one at a time |")
        print("|---|---:|---:|---:|---:|---:|")
        base = None
        for name, (images, extra) in modes.items():
            times = [wall_time([*common, *extra, "--trainer.max_steps", str(n)]) for n in (opts.short, opts.long)]
            per_step = (times[1] - times[0]) / (opts.long - opts.short)
            startup = times[0] - opts.short * per_step
            per_hour = images * 3600 / (startup + opts.steps_per_image * per_step)
            base = base or per_hour
            print(f"| {name} | {images} | {per_step:.3f} | {startup:.1f} | {per_hour:.1f} | "
                  f"{per_hour / base:.2f}x |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
