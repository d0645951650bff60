"""How good a real-time style network is after its training run: the training curve, and on
held-out photos (never trained on) its style distance and content kept next to the
optimisation's picture of the same pair, all measured by the same fixed metrics
(``nst.objective.metrics``: eval/sliced_wasserstein, eval/gram_distance, eval/ssim_content) and
the share of near-black pixels.

    python train.py --config fast_starry.yaml --data.photos DIR --model.network small \\
        --data.size 128 --data.batch_size 2 --trainer.max_time 00:00:25:00 --run_name fast_cpu_small
    OMP_NUM_THREADS=1 nice python bench/fast_train.py --run outputs/fast_cpu_small/version_0 \\
        --weights /work/shared/vgg19/vgg19_features.safetensors --out outputs/fast_train

Writes ``curve.png`` (loss/total and val/total against the step), ``contact_sheet.png`` (photo,
network, optimisation; metrics under each) and prints the table. The optimisation runs the
shipped objective (``configs/starry.yaml``: gram, its calibrated weights, Adam 0.03 from the
photo in the painting's colours) for ``--opt-steps`` steps; ``--opt-photos`` limits it to the first photos.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fast_infer import autocast  # noqa: E402
from nst.hardware import native_bf16_cpu  # noqa: E402
from nst.inputs.pair import pair_from_paths  # noqa: E402
from nst.media.images import save_image  # noqa: E402
from nst.objective.metrics import EVAL_LAYERS, StyleTransferMetrics  # noqa: E402
from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective  # noqa: E402
from nst.realtime.apply import load_style  # noqa: E402
from nst.runs.sweep import contact_sheet  # noqa: E402

ASSETS = ROOT / "assets"
NEAR_BLACK = 0.06
HELD_OUT = ("building.jpg", "home.jpg", "squirrel_cls.jpg")  # not in the training folder


def plot_curve(run: Path, path: Path) -> list[tuple[int, float]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    curves = {}
    for tag in ("loss/total", "val/total"):
        if tag in events.Tags()["scalars"]:
            points = [(s.step, s.value) for s in events.Scalars(tag)]
            curves[tag] = points
            ax.plot(*zip(*points), marker="o" if tag.startswith("val") else None, label=tag, ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("objective (α content + β style)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title(f"training curve: {run.parent.name}")
    fig.tight_layout()
    fig.savefig(path)
    return curves.get("val/total", [])


def measure(metrics: StyleTransferMetrics, image: torch.Tensor) -> dict[str, float]:
    """The fixed metrics, and the share of near-black pixels (every channel under 0.06: the
    painting has 5 %), where a network can lower a Gram loss by painting flat areas black."""
    return {**metrics(image), "near_black": float((image.float() < NEAR_BLACK).all(1).float().mean())}


def optimise(vgg: VGGFeatures, pair, steps: int) -> tuple[torch.Tensor, float]:
    definition = LossDefinition.from_config()
    objective = StyleObjective.build(vgg, definition, pair.content, pair.styles,
                                     LossWeights(*definition.default_weights()))
    image = pair.start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.03)
    average = image.detach().clone()
    began = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with autocast("bf16" if native_bf16_cpu() else "32"):
            loss = objective(image)["total"]
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
            average.mul_(0.9).add_(image.detach(), alpha=0.1)  # the shipped ema_decay 0.9
    return average, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a training run's version_N folder")
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--opt-steps", type=int, default=200)
    parser.add_argument("--opt-photos", type=int, default=1)
    parser.add_argument("--out", default="outputs/fast_train")
    args = parser.parse_args()
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    val = plot_curve(run, out / "curve.png")
    style = load_style(run / "checkpoints" / "last.ckpt")
    vgg = VGGFeatures(load_weights(args.weights), [*EVAL_LAYERS, *LossDefinition.from_config().layers])
    rows, cells = [], []
    for i, photo in enumerate(HELD_OUT):
        pair = pair_from_paths(str(ASSETS / photo), str(ASSETS / "starry_night.jpg"), args.size)
        metrics = StyleTransferMetrics(vgg, pair.content, pair.styles)
        began = time.perf_counter()
        fast = style(pair.content, return_tensor=True)
        fast_s = time.perf_counter() - began
        save_image(fast, out / f"fast_{Path(photo).stem}.png", style.metadata)
        cells += [(f"{photo}", out / f"photo_{Path(photo).stem}.png", measure(metrics, pair.content)),
                  (f"network ({fast_s * 1000:.0f} ms)", out / f"fast_{Path(photo).stem}.png", measure(metrics, fast))]
        save_image(pair.content, cells[-2][1])
        rows.append((photo, "network", cells[-1][2], fast_s))
        if i < args.opt_photos:
            image, seconds = optimise(vgg, pair, args.opt_steps)
            save_image(image, out / f"opt_{Path(photo).stem}.png")
            cells.append((f"optimisation ({args.opt_steps} steps, {seconds:.0f} s)", out / f"opt_{Path(photo).stem}.png",
                          measure(metrics, image)))
            rows.append((photo, f"optimisation {args.opt_steps} steps", cells[-1][2], seconds))
        else:
            cells.append(("(optimisation not run)", cells[-2][1], {}))
    contact_sheet(cells, columns=3).save(out / "contact_sheet.png")
    print(f"{torch.get_num_threads()} thread(s); run {run}; held-out photos at {args.size} px; "
          f"last val/total {val[-1] if val else None}")
    print("| photo | picture | sliced Wasserstein ↓ | Gram distance ↓ | SSIM to photo ↑ | near-black | time |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for photo, what, m, seconds in rows:
        print(f"| {photo} | {what} | {m['eval/sliced_wasserstein']:.4g} | {m['eval/gram_distance']:.4g} | "
              f"{m['eval/ssim_content']:.3f} | {m['near_black']:.1%} | {seconds:.2f} s |")


if __name__ == "__main__":
    main()
