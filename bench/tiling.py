"""Tiling (``model.tile_size``): what the halo costs in accuracy, what tiling saves in memory,
what the statistics pass costs in time, and how close a tiled result is to the untiled one.

    python bench/tiling.py halo                      # feature error against the halo width
    python bench/tiling.py memory --mp 1 4 16        # peak RSS of one tiled step (fresh processes)
    python bench/tiling.py time --size 1024          # s/step tiled vs untiled, A B A B
    python bench/tiling.py fidelity --size 1024 --steps 10 --weights /work/shared/vgg19/vgg19_features.safetensors

Memory and time do not depend on the weights' values (``--weights random`` is the default for
them, on purpose); the halo error and the fidelity use the real weights when given.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import CONTENT, STYLE, peak_rss_mib  # noqa: E402

from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.inputs.pair import pair_from_paths  # noqa: E402
from nst.objective.style_objective import (  # noqa: E402
    GATYS_STYLE_LAYERS,
    LossDefinition,
    LossWeights,
    StyleObjective,
)
from nst.objective.tiles import Tiling, seam_ratio  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402

LAYERS = [*GATYS_STYLE_LAYERS, "relu4_2"]


def halo_table(opts) -> None:
    """Max |tiled - untiled| / max |untiled| per layer of the features, per halo width."""
    weights = load_weights(opts.weights, progress=False)
    vgg = VGGFeatures(weights, LAYERS)
    image = pair_from_paths(str(CONTENT), str(STYLE), opts.size).content
    with torch.no_grad():
        whole = vgg(image)
    print(f"{opts.size} px photo, tile {opts.tile} px, weights {opts.weights}")
    print("| halo px | " + " | ".join(LAYERS) + " |")
    print("|---:|" + "---:|" * len(LAYERS))
    for halo in opts.halos:
        tiled = Tiling(vgg, opts.tile, halo).features(image, LAYERS)
        errors = [(tiled[n] - whole[n]).abs().max() / whole[n].abs().max() for n in LAYERS]
        print(f"| {halo} | " + " | ".join(f"{e:.1e}" for e in errors) + " |", flush=True)


def one_step_rss(opts) -> None:
    """(internal) One tiled training step of train.py's path in this process; print peak RSS."""
    from nst.runs.cli import run

    with tempfile.TemporaryDirectory() as tmp:
        cli = run(["--data.content", str(CONTENT), "--data.style", str(STYLE), "--data.size", str(opts.size),
                   "--model.weights", opts.weights, "--model.strength_reference_size", "null",
                   "--trainer.max_steps", "1", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar",
                   "false", "--output_dir", tmp, *opts.extra.split()])
        h, w = cli.model.images[0].shape[-2:]
    print(f"{h * w} {peak_rss_mib()}")


def memory_table(opts) -> None:
    """Peak RSS of a fresh process doing one step, against the image's megapixels."""
    aspect = 868 / 600  # building.jpg
    print(f"tile {opts.tile} px, halo default, weights {opts.weights}, the default precision (bf16-mixed where native, else fp32), Adam, one step, fresh process")
    print("| image | MP | tiled peak RSS MiB | whole-image buffers MiB (Adam: 3 x 3 ch x 4 B/px) |")
    print("|---|---:|---:|---:|")
    for mp in opts.mp:
        long_side = round(math.sqrt(mp * 1e6 * aspect))
        extra = f"--model.tile_size {opts.tile} --eval_metrics.enabled false"
        command = [sys.executable, __file__, "step", "--size", str(long_side), "--weights", opts.weights,
                   "--extra", extra]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        pixels, rss = done.stdout.strip().splitlines()[-1].split()
        pixels = int(pixels)
        print(f"| {long_side} px | {pixels / 1e6:.1f} | {float(rss):.0f} | {pixels * 36 / 2**20:.0f} |", flush=True)


def objectives(opts, size: int, tile: int):
    weights = load_weights(opts.weights, progress=False)
    definition = LossDefinition.from_config()
    vgg = VGGFeatures(weights, definition.layers)
    pair = pair_from_paths(str(CONTENT), str(STYLE), size)
    loss_weights = LossWeights(*definition.default_weights())
    plain = StyleObjective.build(vgg, definition, pair.content, pair.styles, loss_weights)
    tiled = StyleObjective.build(vgg, definition, pair.content, pair.styles, loss_weights,
                                 tiling=Tiling(vgg, tile, opts.halo))
    return plain, tiled, pair


def time_table(opts) -> None:
    """Seconds per forward + backward, untiled and tiled, alternated in this one process."""
    plain, tiled, pair = objectives(opts, opts.size, opts.tile)
    image = pair.content.clone().requires_grad_(True)
    seconds = {"untiled": [], "tiled": []}
    for step in range(opts.repeats):
        for name, objective in (("untiled", plain), ("tiled", tiled)):
            objective.resample(step)
            start = time.perf_counter()
            objective(image)["total"].backward()
            seconds[name].append(time.perf_counter() - start)
            image.grad = None
    mp = image[0, 0].numel() / 1e6
    print(f"{opts.size} px ({mp:.2f} MP), tile {opts.tile} px, halo {opts.halo} px, {opts.repeats} rounds A B A B")
    print("| variant | s/step (median) | s/MP | vs untiled |")
    print("|---|---:|---:|---:|")
    base = np.median(seconds["untiled"])
    for name, values in seconds.items():
        t = np.median(values)
        print(f"| {name} | {t:.2f} | {t / mp:.2f} | {t / base:.2f}x |")


def fidelity_table(opts) -> None:
    """Same start, same Adam steps, untiled and tiled; both results judged by the untiled losses."""
    plain, tiled, pair = objectives(opts, opts.size, opts.tile)
    results = {}
    for name, objective in (("untiled", plain), ("tiled", tiled)):
        image = pair.content.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([image], lr=0.02)
        for step in range(opts.steps):
            objective.resample(step)
            optimizer.zero_grad()
            objective(image)["total"].backward()
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0, 1)
        with torch.no_grad():
            judged = plain(image)
        update = (image.detach() - pair.content)[0].permute(1, 2, 0).numpy()
        results[name] = (judged["style"].item(), judged["content"].item(), seam_ratio(update), image.detach())
        print(f"# {name} done", flush=True)
    print(f"{opts.size} px, {opts.steps} Adam steps from the photo, tile {opts.tile} px, halo {opts.halo} px, "
          f"weights {opts.weights}")
    print("| variant | style loss | content loss | seam ratio of the update |")
    print("|---|---:|---:|---:|")
    for name, (style, content, seams, _) in results.items():
        print(f"| {name} | {style:.4g} | {content:.4g} | {seams:.3f} |")
    (s0, c0, _, a), (s1, c1, _, b) = results["untiled"], results["tiled"]
    print(f"tiled/untiled: style {s1 / s0:.4f}, content {c1 / c0:.4f}; "
          f"max |pixel difference| {(a - b).abs().max().item() * 255:.2f}/255")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("section", choices=["halo", "memory", "time", "fidelity", "step"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--halo", type=int, default=80)
    parser.add_argument("--halos", type=int, nargs="+", default=[0, 16, 32, 48, 64, 80, 96])
    parser.add_argument("--mp", type=float, nargs="+", default=[1, 4, 16])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--extra", default="", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    torch.manual_seed(0)
    {"halo": halo_table, "memory": memory_table, "time": time_table, "fidelity": fidelity_table,
     "step": one_step_rss}[opts.section](opts)


if __name__ == "__main__":
    main()
