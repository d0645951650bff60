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
network, optimisation; metrics under each) and prints the table, and the sliced Wasserstein
distance layer by layer (which of the five layers the distance is in).

``--curve`` also measures every step checkpoint of the run on the held-out photos (a run keeps
them with ``--checkpoint.save_top_k -1 --checkpoint.filename '{step}'
--checkpoint.every_n_train_steps 500``): the style distance against the step and the minute,
printed and plotted (``style_curve.png``) beside the optimisation's, with the photos' mean SSIM
and near-black share (an instant run's step 0: the instant picture). The optimisation runs the
shipped objective (``configs/starry.yaml``: gram, its calibrated weights, Adam 0.03 from the
photo in the painting's colours) for ``--opt-steps`` steps; ``--opt-photos`` limits it to the first photos.
The painting is the run's own (its checkpoint's ``style``). ``--reference FILE.json`` keeps the
optimisation's numbers and pictures for that painting, size and step count: the first bench
writes it, later ones read it instead of optimising again (runs of the same painting compared on
the same reference). The curve's table gives each start's SSIM over the optimisation's too.
"""

from __future__ import annotations

import argparse
import json
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
from nst.realtime.apply import load_style, read_checkpoint  # noqa: E402
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


def step_checkpoints(run: Path) -> list[tuple[int, Path]]:
    """The run's ``step=N.ckpt`` files and its ``last.ckpt`` (where the run ended), by step."""
    found = {}
    for path in (run / "checkpoints").glob("step=*.ckpt"):
        try:
            found[int(path.stem.split("=")[1].split("-")[0])] = path
        except ValueError:
            continue
    last = run / "checkpoints" / "last.ckpt"
    if found and last.is_file():
        found.setdefault(read_checkpoint(last)["global_step"], last)
    return sorted(found.items())


def minutes_at(run: Path) -> dict[int, float]:
    """Minutes since the first logged step, for each logged step (TensorBoard's wall times)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    if "loss/total" not in events.Tags()["scalars"]:
        return {}
    scalars = events.Scalars("loss/total")
    return {s.step: (s.wall_time - scalars[0].wall_time) / 60 for s in scalars}


def curve_styles(run: Path) -> list[tuple[int, object]]:
    """(step, style) for every step checkpoint; an instant run's step 0 too: the instant picture
    (``instant_style`` of its painting, which at the held-out size is what the folded network paints)."""
    found = [(step, load_style(ckpt)) for step, ckpt in step_checkpoints(run)]
    if found and found[0][1].record["network"] == "instant":
        from nst.realtime.instant.style import instant_style

        found.insert(0, (0, instant_style(found[0][1].config["style"])))
    return found


def style_curve(run: Path, pairs: list, reference: dict[str, float], path: Path) -> None:
    """Each step checkpoint's style distance on the held-out photos, printed and plotted, with
    the photos' mean SSIM and near-black share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes, points = minutes_at(run), []
    for step, style in curve_styles(run):
        measured = [measure(metrics, style(pair.content, return_tensor=True)) for _, pair, metrics in pairs]
        points.append((step, [m["eval/sliced_wasserstein"] for m in measured],
                       [sum(m[k] for m in measured) / len(measured) for k in ("eval/ssim_content", "near_black")]))
    if not points:
        print(f"no step checkpoints in {run / 'checkpoints'} (train with --checkpoint.save_top_k -1 "
              "--checkpoint.filename '{step}')")
        return
    print("\n| step | minutes | " + " | ".join(f"{photo} swd" for photo, _, _ in pairs)
          + " | x optimisation (mean) | SSIM (mean) | SSIM / optimisation's | near-black (mean) |")
    print("| ---: | ---: |" + " ---: |" * (len(pairs) + 4))
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    for i, (photo, _, _) in enumerate(pairs):
        line = ax.plot([s for s, _, _ in points], [d[i] for _, d, _ in points], marker="o", ms=3, label=photo)
        if photo in reference:
            ax.axhline(reference[photo]["eval/sliced_wasserstein"], color=line[0].get_color(), ls="--", lw=0.8)
    ssims = [m["eval/ssim_content"] for m in reference.values()]
    for step, distances, (ssim, black) in points:
        ratios = [d / reference[photo]["eval/sliced_wasserstein"]
                  for d, (photo, _, _) in zip(distances, pairs) if photo in reference]
        near = min(minutes, key=lambda s: abs(s - step), default=None)
        cells = [str(step), f"{minutes[near]:.1f}" if near is not None else "", *(f"{d:.4g}" for d in distances),
                 f"{sum(ratios) / len(ratios):.2f}" if ratios else "", f"{ssim:.3f}",
                 f"{ssim / (sum(ssims) / len(ssims)):.2f}" if ssims else "", f"{black:.1%}"]
        print("| " + " | ".join(cells) + " |")
    ax.set_xlabel("step")
    ax.set_ylabel("sliced Wasserstein (held-out)")
    ax.set_yscale("log")
    ax.legend(fontsize=8, title="dashed: optimisation" if reference else None, title_fontsize=7)
    ax.set_title(f"style distance: {run.parent.name}")
    fig.tight_layout()
    fig.savefig(path)


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


def compare(photo: str, pair, metrics, style, vgg, args, out: Path, known: dict) -> tuple[list, list, dict]:
    """One held-out photo: the network's picture and, if asked, the optimisation's (``known``'s,
    from the reference file, or optimised now and added to it); the contact sheet's cells, the
    table's rows and each picture's distance layer by layer."""
    began = time.perf_counter()
    fast = style(pair.content, return_tensor=True)
    fast_s = time.perf_counter() - began
    stem = Path(photo).stem
    save_image(fast, out / f"fast_{stem}.png", style.metadata)
    save_image(pair.content, out / f"photo_{stem}.png")
    cells = [(photo, out / f"photo_{stem}.png", measure(metrics, pair.content)),
             (f"network ({fast_s * 1000:.0f} ms)", out / f"fast_{stem}.png", measure(metrics, fast))]
    rows, layers = [(photo, "network", cells[-1][2], fast_s)], {"network": metrics.sliced_by_layer(fast)}
    if photo in known:  # the reference file's: measured once, by an earlier bench
        entry = known[photo]
        cells.append((f"optimisation ({args.opt_steps} steps, {entry['seconds']:.0f} s)", Path(entry["picture"]),
                      entry["metrics"]))
        rows.append((photo, f"optimisation {args.opt_steps} steps", entry["metrics"], entry["seconds"]))
        layers["optimisation"] = entry["layers"]
    elif HELD_OUT.index(photo) < args.opt_photos:
        image, seconds = optimise(vgg, pair, args.opt_steps)
        save_image(image, out / f"opt_{stem}.png")
        cells.append((f"optimisation ({args.opt_steps} steps, {seconds:.0f} s)", out / f"opt_{stem}.png",
                      measure(metrics, image)))
        rows.append((photo, f"optimisation {args.opt_steps} steps", cells[-1][2], seconds))
        layers["optimisation"] = metrics.sliced_by_layer(image)
        known[photo] = {"metrics": cells[-1][2], "seconds": seconds, "layers": layers["optimisation"],
                        "picture": str((out / f"opt_{stem}.png").resolve())}
    else:
        cells.append(("(optimisation not run)", cells[-2][1], {}))
    return cells, rows, layers


def read_reference(path: str | None, key: dict) -> dict:
    """The optimisation's numbers per photo from ``--reference``, if it was written for this
    painting, size and step count (else none: they are measured again and the file rewritten)."""
    if not path or not Path(path).is_file():
        return {}
    saved = json.loads(Path(path).read_text())
    if any(saved.get(k) != v for k, v in key.items()):
        print(f"{path} holds another painting, size or step count: optimising again")
        return {}
    return saved["photos"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a training run's version_N folder")
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--opt-steps", type=int, default=200)
    parser.add_argument("--opt-photos", type=int, default=1)
    parser.add_argument("--curve", action="store_true", help="also measure every step checkpoint of the run")
    parser.add_argument("--out", default="outputs/fast_train")
    parser.add_argument("--reference", help="a JSON file of the optimisation's numbers: read if it holds this "
                        "painting, size and --opt-steps, else written after optimising")
    args = parser.parse_args()
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    val = plot_curve(run, out / "curve.png")
    style = load_style(run / "checkpoints" / "last.ckpt")
    vgg = VGGFeatures(load_weights(args.weights), [*EVAL_LAYERS, *LossDefinition.from_config().layers])
    painting = str(style.config.get("style") or ASSETS / "starry_night.jpg")
    key = {"painting": str(Path(painting).resolve()), "size": args.size, "opt_steps": args.opt_steps}
    known = read_reference(args.reference, key)
    pairs, rows, cells, layers = [], [], [], []
    for photo in HELD_OUT:
        pair = pair_from_paths(str(ASSETS / photo), painting, args.size)
        pairs.append((photo, pair, StyleTransferMetrics(vgg, pair.content, pair.styles)))
        photo_cells, photo_rows, photo_layers = compare(*pairs[-1], style, vgg, args, out, known)
        cells, rows = cells + photo_cells, rows + photo_rows
        layers += [(photo, what, values) for what, values in photo_layers.items()]
    contact_sheet(cells, columns=3).save(out / "contact_sheet.png")
    if args.reference and known:
        Path(args.reference).write_text(json.dumps({**key, "photos": known}, indent=1))
    print(f"painting {painting}; " + (f"optimisation from {args.reference}; " if args.reference else "")
          + f"{torch.get_num_threads()} thread(s); run {run}; held-out photos at {args.size} px; "
          f"last val/total {val[-1] if val else None}")
    print("| photo | picture | sliced Wasserstein ↓ | Gram distance ↓ | SSIM to photo ↑ | near-black | time |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for photo, what, m, seconds in rows:
        print(f"| {photo} | {what} | {m['eval/sliced_wasserstein']:.4g} | {m['eval/gram_distance']:.4g} | "
              f"{m['eval/ssim_content']:.3f} | {m['near_black']:.1%} | {seconds:.2f} s |")
    print("\nsliced Wasserstein layer by layer (the metric is their sum):")
    print("| photo | picture | " + " | ".join(EVAL_LAYERS) + " |")
    print("| --- | --- |" + " ---: |" * len(EVAL_LAYERS))
    for photo, what, values in layers:
        print(f"| {photo} | {what} | " + " | ".join(f"{values[n]:.4g}" for n in EVAL_LAYERS) + " |")
    if args.curve:
        reference = {photo: m for photo, what, m, _ in rows if what != "network"}
        style_curve(run, pairs, reference, out / "style_curve.png")


if __name__ == "__main__":
    main()
