"""The trade-off between content kept and style matched, one curve per definition of style.

    nice python bench/tradeoff.py --weights /work/shared/vgg19/vgg19_features.safetensors \\
        --pairs building-starry,home-fruits,squirrel-starry --factors 0.0001,0.001,0.03,1 --steps 40 \\
        --size 256 --out docs/tradeoff      # what docs/cost-lab.md shows: 60 runs, 10-90 s each

Each definition (its content and style losses, at their calibrated default weights) is run with
its style weight times each factor, on each pair, from the same start, by the same optimiser
(Adam, lr 0.03, ``--steps`` steps, bf16 autocast where the CPU computes it natively). Every
result is measured by the same fixed metrics, which no definition optimises as such:
``eval/ssim_content`` (content kept) and ``eval/sliced_wasserstein``, ``eval/gram_distance``
(style missed; ``nst.objective.metrics``). A definition better at every trade-off lies above
and to the left of the others in ``tradeoff.png`` (SSIM up, distance left).
``table.md`` lists every run; ``contact_sheet.png`` shows, per pair, each definition's result
whose SSIM is nearest a level that all reach (matched content). Runs already in
``<out>/runs.json`` are skipped, so an interrupted sweep resumes.

    python bench/tradeoff.py --time-steps 3 --size 400 ...   # s/step of each definition, side by side
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst.hardware import native_bf16_cpu  # noqa: E402
from nst.inputs.pair import pair_from_paths  # noqa: E402
from nst.media.images import save_image  # noqa: E402
from nst.objective.metrics import EVAL_LAYERS, StyleTransferMetrics  # noqa: E402
from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective  # noqa: E402
from nst.runs.sweep import contact_sheet  # noqa: E402

ASSETS = ROOT / "assets"
PAIRS = {"building-starry": ("building.jpg", "starry_night.jpg"), "home-fruits": ("home.jpg", "fruits.jpg"),
         "squirrel-starry": ("squirrel_cls.jpg", "starry_night.jpg")}
DEFINITIONS = {  # name: LossDefinition.from_config arguments
    "gram": dict(),
    "wasserstein2": dict(style_loss="wasserstein2"),
    "strotss": dict(content_loss="self_similarity", style_loss="relaxed_emd", content_layers=None),
    "nnst": dict(style_loss="nnst"),
    "nnst_alpha": dict(style_loss="nnst", style_loss_options={"alpha": 0.75, "refresh_every": 10}),  # NNST's blend
}
LR = 0.03  # the project's Adam default (pixel units)


def adam_step(objective: StyleObjective, image: torch.Tensor, optimizer, step: int, bf16: bool) -> None:
    objective.resample(step)
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
        loss = objective(image)["total"]
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        image.clamp_(0, 1)


def optimise(objective: StyleObjective, start: torch.Tensor, steps: int, bf16: bool) -> torch.Tensor:
    image = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=LR)
    for step in range(steps):
        adam_step(objective, image, optimizer, step, bf16)
    return image.detach()


def run_pair(name: str, args, vgg: VGGFeatures, done: dict, out: Path) -> None:
    content_file, style_file = PAIRS[name]
    pair = pair_from_paths(str(ASSETS / content_file), str(ASSETS / style_file), args.size)
    start = pair.start  # the project's default start (the photo in the painting's colours)
    metrics = StyleTransferMetrics(vgg, pair.content, pair.styles)
    for factor in args.factors:  # every definition at a factor before the next: a cut-short sweep compares
        for definition_name in args.definitions:
            definition = LossDefinition.from_config(**DEFINITIONS[definition_name])
            alpha, beta = definition.default_weights()
            key = f"{name}/{definition_name}/{factor:g}"
            if key in done:
                continue
            objective = StyleObjective.build(vgg, definition, pair.content, pair.styles,
                                             LossWeights(alpha, beta * factor))
            began = time.perf_counter()
            image = optimise(objective, start, args.steps, args.bf16)
            seconds = time.perf_counter() - began
            path = out / name / f"{definition_name}_{factor:g}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(image, path)
            done[key] = {"pair": name, "definition": definition_name, "factor": factor, "style_weight": beta * factor,
                         "content_weight": alpha, "seconds": seconds, "image": str(path.relative_to(out)),
                         **metrics(image)}
            (out / "runs.json").write_text(json.dumps(done, indent=1))
            print(f"{key}: {seconds:.0f} s, ssim {done[key]['eval/ssim_content']:.3f}, "
                  f"swd {done[key]['eval/sliced_wasserstein']:.4g}", flush=True)


def time_steps(args, vgg: VGGFeatures) -> None:
    """Seconds per Adam step of each definition on one pair, interleaved round by round (one
    step each in turn, the first untimed), so that a shared machine's drift falls on all alike."""
    content_file, style_file = PAIRS[args.pairs.split(",")[0]]
    pair = pair_from_paths(str(ASSETS / content_file), str(ASSETS / style_file), args.size)
    runs = {}
    for name in args.definitions:
        definition = LossDefinition.from_config(**DEFINITIONS[name])
        objective = StyleObjective.build(vgg, definition, pair.content, pair.styles,
                                         LossWeights(*definition.default_weights()))
        image = pair.start.clone().requires_grad_(True)
        runs[name] = (objective, image, torch.optim.Adam([image], lr=LR), [])
    for step in range(args.time_steps + 1):
        for name, (objective, image, optimizer, seconds) in runs.items():
            began = time.perf_counter()
            adam_step(objective, image, optimizer, step, args.bf16)
            if step:
                seconds.append(time.perf_counter() - began)
    gram = sum(runs["gram"][3]) / args.time_steps if "gram" in runs else None
    print(f"| definition | s/step at {args.size} px ({'bf16' if args.bf16 else 'fp32'}, {args.time_steps} steps) | x gram |")
    print("| --- | --- | --- |")
    for name, (*_, seconds) in runs.items():
        mean = sum(seconds) / len(seconds)
        print(f"| {name} | {mean:.2f} | {mean / gram:.2f} |" if gram else f"| {name} | {mean:.2f} | |")


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    pairs = sorted({r["pair"] for r in runs})
    metrics = ("eval/sliced_wasserstein", "eval/gram_distance")
    fig, axes = plt.subplots(len(metrics), len(pairs), figsize=(5 * len(pairs), 8), squeeze=False)
    for row, metric in enumerate(metrics):
        for column, pair in enumerate(pairs):
            ax = axes[row][column]
            for definition in DEFINITIONS:
                curve = sorted((r["factor"], r[metric], r["eval/ssim_content"]) for r in runs
                               if r["pair"] == pair and r["definition"] == definition)
                if curve:
                    ax.plot([c[1] for c in curve], [c[2] for c in curve], "o-", label=definition)
                    for factor, x, y in curve:
                        ax.annotate(f"x{factor:g}", (x, y), fontsize=7, alpha=0.6)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # decades only: readable
            ax.set(xlabel=f"{metric} (style missed, lower is better)", ylabel="eval/ssim_content (content kept)",
                   title=pair)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def matched(runs: list[dict], pair: str) -> tuple[float, list[dict], bool]:
    """The SSIM level inside every definition's range (the middle of their overlap, or the
    middle of the highest minimum and lowest maximum), each definition's run nearest it, and
    whether the ranges overlap at all (if not, "matched" is only the nearest)."""
    by_definition = {d: [r for r in runs if r["pair"] == pair and r["definition"] == d] for d in DEFINITIONS}
    by_definition = {d: rs for d, rs in by_definition.items() if rs}
    low = max(min(r["eval/ssim_content"] for r in rs) for rs in by_definition.values())
    high = min(max(r["eval/ssim_content"] for r in rs) for rs in by_definition.values())
    level = (low + high) / 2
    return level, [min(rs, key=lambda r: abs(r["eval/ssim_content"] - level)) for rs in by_definition.values()], low <= high


def report(done: dict, out: Path) -> None:
    runs = list(done.values())
    plot(runs, out / "tradeoff.png")
    lines = ["| pair | definition | style weight (x default) | ssim_content | sliced_wasserstein | gram_distance | s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['pair']} | {r['definition']} | {r['style_weight']:.3g} (x{r['factor']:g}) | "
              f"{r['eval/ssim_content']:.3f} | {r['eval/sliced_wasserstein']:.4g} | {r['eval/gram_distance']:.4g} | "
              f"{r['seconds']:.0f} |" for r in sorted(runs, key=lambda r: (r["pair"], r["definition"], r["factor"]))]
    sheet = []
    for pair in sorted({r["pair"] for r in runs}):
        level, chosen, overlap = matched(runs, pair)
        lines.append(f"\n{pair}: {'matched content' if overlap else 'no SSIM level reached by all; nearest'} "
                     f"at ssim {level:.3f}: " + ", ".join(f"{r['definition']} x{r['factor']:g}" for r in chosen))
        sheet += [(f"{pair} {r['definition']} x{r['factor']:g}", out / r["image"], r) for r in chosen]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    contact_sheet(sheet, columns=len(DEFINITIONS)).save(out / "contact_sheet.png")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--definitions", default=",".join(DEFINITIONS))
    parser.add_argument("--factors", default="0.0001,0.001,0.03,1", help="style weight multiples of the default")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--out", default="outputs/tradeoff")
    parser.add_argument("--report-only", action="store_true", help="redraw the plot, table and sheet from runs.json")
    parser.add_argument("--time-steps", type=int, default=0,
                        help="only time this many steps of each definition, interleaved, on the first pair")
    args = parser.parse_args()
    args.definitions = args.definitions.split(",")
    args.factors = [float(f) for f in args.factors.split(",")]
    args.bf16 = native_bf16_cpu() if args.bf16 == "auto" else args.bf16 == "on"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done = json.loads((out / "runs.json").read_text()) if (out / "runs.json").exists() else {}
    if not args.report_only:
        layers = set(EVAL_LAYERS)
        for d in args.definitions:
            layers |= set(LossDefinition.from_config(**DEFINITIONS[d]).layers)
        vgg = VGGFeatures(load_weights(args.weights), layers)
        torch.manual_seed(0)
        if args.time_steps:
            return time_steps(args, vgg)
        for name in args.pairs.split(","):
            run_pair(name, args, vgg, done, out)
    report(done, out)


if __name__ == "__main__":
    main()
