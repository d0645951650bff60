"""Does bf16-mixed change the picture? The same run in 32-true and bf16-mixed, side by side.

    python bench/compare_precision.py [--size 256] [--steps 300] [--out docs/performance/benchmarks/precision.png]

Prints each run's seconds, its evaluation metrics (metrics.json) and the SSIM between the two
results, and writes the two final images side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torchmetrics.functional.image import structural_similarity_index_measure
from torchvision.utils import make_grid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst.runs.cli import run  # noqa: E402
from nst.media.images import load_image, save_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance" / "benchmarks" / "precision.png"))
    opts = parser.parse_args()
    finals = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("32-true", "bf16-mixed"):
            start = time.perf_counter()
            cli = run(["--config", str(ROOT / "configs" / "starry.yaml"), "--data.size", str(opts.size),
                       "--trainer.max_steps", str(opts.steps), "--trainer.precision", precision,
                       "--trainer.accelerator", opts.accelerator, "--trainer.enable_progress_bar", "false",
                       "--output_dir", tmp, "--run_name", precision])
            seconds = time.perf_counter() - start
            folder = Path(cli.trainer.log_dir)
            metrics = json.loads((folder / "metrics.json").read_text())
            finals[precision] = load_image(folder / "final.png")
            print(f"{precision}: {seconds:.0f} s; " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    a, b = finals.values()
    ssim = structural_similarity_index_measure(a, b, data_range=1.0)
    print(f"SSIM(32-true, bf16-mixed) = {float(ssim):.3f}; mean |difference| = "
          f"{float((a - b).abs().mean()) * 255:.1f}/255")
    save_image(make_grid(torch.cat([a, b]), nrow=2, padding=4, pad_value=1.0)[None], Path(opts.out), {})
    print(f"side by side (32-true | bf16-mixed): {opts.out}")


if __name__ == "__main__":
    main()
