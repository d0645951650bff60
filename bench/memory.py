"""Memory per pixel of a run, with and without activation checkpointing and bf16, and the largest
image that fits in a given memory.

    python bench/memory.py                       # CPU: peak RSS at 512 and 1024 px
    python bench/memory.py --sizes 768 1536 --budget-gib 24 80

Each point is the peak resident set (VmHWM) of a fresh process running 3 steps of ``train.py``'s
path (``bench/run.py --peak-rss-of ours``). The slope between the two sizes is the memory per
pixel; the intercept the fixed cost (Python, torch, the VGG weights). ``nst.inputs.memory`` holds the
measured slopes that ``size: auto`` uses.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import CONTENT, STYLE, fresh_process_rss  # noqa: E402

from nst.inputs.pair import pair_from_paths  # noqa: E402

VARIANTS = {
    "fp32": ("32-true", []),
    "fp32 + checkpointing": ("32-true", ["--model.activation_checkpointing", "true"]),
    "bf16-mixed": ("bf16-mixed", []),
    "bf16-mixed + checkpointing": ("bf16-mixed", ["--model.activation_checkpointing", "true"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[512, 1024])
    parser.add_argument("--budget-gib", type=float, nargs="+", default=[24.0])
    parser.add_argument("--weights", default="vgg19-caffe")
    opts = parser.parse_args()
    shapes = {s: pair_from_paths(str(CONTENT), str(STYLE), s).content.shape[-2:] for s in opts.sizes}
    pixels = {s: h * w for s, (h, w) in shapes.items()}
    aspect = shapes[opts.sizes[0]][1] / shapes[opts.sizes[0]][0]
    header = " | ".join(f"{s} px peak MiB" for s in opts.sizes)
    budgets = " | ".join(f"largest in {b:g} GiB" for b in opts.budget_gib)
    print(f"| variant | {header} | KiB/pixel | fixed MiB | {budgets} |")
    print("|---|" + "---:|" * (len(opts.sizes) + 2 + len(opts.budget_gib)))
    for name, (precision, extra) in VARIANTS.items():
        run_opts = SimpleNamespace(warmup=1, weights=opts.weights, precision=precision)
        peaks = {s: fresh_process_rss("ours", s, run_opts, extra) for s in opts.sizes}
        a, b = opts.sizes
        per_pixel = (peaks[b] - peaks[a]) * 2**20 / (pixels[b] - pixels[a])
        fixed = peaks[a] - per_pixel * pixels[a] / 2**20
        fits = []
        for budget in opts.budget_gib:
            largest = (budget * 2**30 - fixed * 2**20) / per_pixel  # pixels
            long_side = math.sqrt(largest * max(aspect, 1 / aspect))
            fits.append(f"{largest / 1e6:.1f} MP ({long_side:.0f} px)")
        cells = " | ".join(f"{peaks[s]:.0f}" for s in opts.sizes)
        print(f"| {name} | {cells} | {per_pixel / 1024:.1f} | {fixed:.0f} | {' | '.join(fits)} |", flush=True)


if __name__ == "__main__":
    main()
