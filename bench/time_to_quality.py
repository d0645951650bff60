"""Time to a finished picture: loss against wall-clock seconds for several optimisation strategies.

    python bench/time_to_quality.py                          # the demo at 400 px, every strategy
    python bench/time_to_quality.py --pairs all --size 256   # the demo and three more pairs
    python bench/time_to_quality.py --strategies adam,c2f,c2f-bf16 --out /tmp/ttq
    python bench/time_to_quality.py --size 256 --reference default:steps=1000 \
        --strategies default,pyramid,decorrelated,fourier --metrics    # model.parameterisation

Every strategy of a pair runs in this one process, interleaved: each does one unit of work (an
Adam step, or one L-BFGS call of ``lbfgs_max_iter`` evaluations) in turn, and only its own units
count on its clock, so the drift of a shared machine's speed falls on all of them alike.

Quality is one fixed objective for all: the final size's α·content + β·style (the weights a run
at that size uses, with ``strength_reference_size`` 400 as in starry.yaml), evaluated in float32 on
the strategy's output (its moving average where it keeps one; coarse stages upsampled to the
final size). Evaluations are not timed. The table gives, per strategy: the loss at its end,
seconds to reach the loss of today's default (300 Adam steps), that time as a share of the
default's, and seconds to come within 2 % of what 1000 Adam steps reach ("finished").
``--reference SPEC`` races another reference (e.g. ``default:steps=1000``, today's default
continued): then the table gives each strategy's best loss, the step and seconds at which it
first reaches the reference's final loss, and (``--metrics``) its final picture's SSIM to the
photo and sliced Wasserstein distance to the painting (``nst.objective.metrics``).
Writes ``<out>/curves.json``, ``<out>/time_to_quality.png`` (loss vs seconds) and each
strategy's final picture, ``<out>/<pair>/<strategy>.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst.hardware import native_bf16_cpu  # noqa: E402
from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.media.images import resize  # noqa: E402
from nst.inputs.pair import InputOptions, Pair, pair_from_paths, start_image  # noqa: E402
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective  # noqa: E402
from nst.model.parameterisation import make_optimizer  # noqa: E402
from nst.model.schedule import (  # noqa: E402
    anneal_factor,
    ImageEMA,
    resize_adam_state,
    split_steps,
    stage_sizes,
)
from nst.model.strength import strength_factor  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402

ASSETS = ROOT / "assets"
PAIRS = {  # name: (content, style)
    "building-starry": ("building.jpg", "starry_night.jpg"),
    "home-fruits": ("home.jpg", "fruits.jpg"),
    "squirrel-starry": ("squirrel_cls.jpg", "starry_night.jpg"),
    "fruits-starry": ("fruits.jpg", "starry_night.jpg"),
}
REFERENCE_SIZE = 400  # starry.yaml's strength_reference_size

# name: settings (see ``Strategy``); budgets are in steps (Adam) or calls (L-BFGS)
STRATEGIES = {
    "adam": dict(steps=1000, nchw=True),  # the former default (classic.yaml), continued to 1000 steps: the reference
    "adam-lr05": dict(steps=300, lr=0.05),
    "adam-cosine": dict(steps=150, lr=0.05, cosine=True),
    "adam-normgrad": dict(steps=300, lr=0.05, normalize_gradients=True),
    "lbfgs": dict(optimizer="lbfgs", steps=8),
    "lbfgs-c2f": dict(optimizer="lbfgs", steps=8, coarse_to_fine=True, final_share=0.4),
    "c2f": dict(steps=300, coarse_to_fine=True, final_share=0.2, ema=0.99),
    "c2f-noema": dict(steps=300, coarse_to_fine=True, final_share=0.2, ema=0.0),
    "c2f-nocarry": dict(steps=300, coarse_to_fine=True, final_share=0.2, ema=0.99, carry_moments=False),
    "c2f-bf16": dict(steps=300, coarse_to_fine=True, final_share=0.2, ema=0.99, bf16=True),
    "adam-bf16": dict(steps=300, bf16=True),
    # starry.yaml; bf16 where the CPU computes it (a run's precision: auto), else fp32 as the run falls back
    "default": dict(steps=200, lr=0.03, ema=0.9, bf16=native_bf16_cpu(), init="style_colors"),
}
for _kind in ("pyramid", "decorrelated", "fourier"):  # model.parameterisation, otherwise the default
    STRATEGIES[_kind] = dict(STRATEGIES["default"], parameterisation=_kind)
STRATEGIES["default-cosine"] = dict(STRATEGIES["default"], cosine=True)
STRATEGIES["default-anneal"] = dict(STRATEGIES["default"], anneal=0.25)


@dataclass
class Strategy:
    name: str
    steps: int = 300
    optimizer: str = "adam"
    lr: float | None = None
    cosine: bool = False
    normalize_gradients: bool = False
    coarse_to_fine: bool = False
    first: int = 128
    final_share: float = 0.2
    ema: float = 0.0  # decay of the output's moving average; 0: none (the last iterate)
    carry_moments: bool = True
    bf16: bool = False
    lbfgs_max_iter: int = 20
    beta2: float = 0.999  # Adam's second-moment decay
    decay: float = 1.0  # lr falls geometrically to lr * decay at the last step
    init: str = "content"  # data.init: content | style_colors (the photo in the painting's colours) | ...
    nchw: bool = False  # the network in NCHW, as the former default ran it (now NHWC: VGGFeatures.channels_last)
    parameterisation: str = "pixels"  # model.parameterisation: what the optimiser steps
    warmup: int = 0  # steps of linear lr warm-up (with cosine)
    anneal: float = 0.0  # lr constant, then linear to 0 over this share of the last steps (model.lr_schedule anneal)

    @classmethod
    def named(cls, spec: str) -> Strategy:
        """``name`` or ``name:key=value,...`` (values parsed as Python literals)."""
        name, _, extra = spec.partition(":")
        settings = dict(STRATEGIES[name])
        for item in filter(None, extra.split(",")):
            key, value = item.split("=")
            default = getattr(cls, key)
            settings[key] = value if isinstance(default, str) else type(default if default is not None else 0.0)(eval(value))
        return cls(spec, **settings)


@dataclass
class Curve:
    seconds: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    units: list[int] = field(default_factory=list)


class Bench:
    """One pair: the network, the fixed objective at the final size, stage objectives on demand."""

    def __init__(self, vgg: VGGFeatures, definition: LossDefinition, pair: Pair):
        self.vgg, self.definition, self.pair = vgg, definition, pair
        self.size = max(pair.content.shape[-2:])
        self.final = self.objective_at(self.size)
        vgg.channels_last = False  # the former layout's targets, for strategies that run it
        self.final_nchw = self.objective_at(self.size)
        vgg.channels_last = True

    def build(self, pair: Pair, normalize: bool = False) -> StyleObjective:
        alpha, beta = self.definition.default_weights()
        definition = self.definition if not normalize else _with(self.definition, normalize_gradients=True)
        return StyleObjective.build(self.vgg, definition, pair.target_content, pair.target_styles,
                                    LossWeights(alpha, beta), pair.blend, pair.masks, pair.seed)

    def objective_at(self, size: int, normalize: bool = False) -> StyleObjective:
        """The objective at ``size`` with β keeping the balance of ``REFERENCE_SIZE``."""
        pair = self.pair if size == self.size else self.pair.resized(size)
        objective = self.build(pair, normalize)
        if size != REFERENCE_SIZE:
            factor = strength_factor(objective, self.definition, pair, REFERENCE_SIZE)
            w = objective.weights
            objective.weights = LossWeights(w.content, w.style * factor, w.tv)
        return objective

    @torch.no_grad()
    def evaluate(self, image: torch.Tensor) -> float:
        self.vgg.channels_last = True
        image = resize(image, self.pair.content.shape[-2:])
        return float(self.final(image)["total"])


def _with(definition: LossDefinition, **changes) -> LossDefinition:
    from dataclasses import replace

    return replace(definition, **changes)


def run_strategy(bench: Bench, s: Strategy):
    """A generator: one unit of work per ``next``; yields the current output image."""
    sizes = stage_sizes(bench.size, s.first) if s.coarse_to_fine else [bench.size]
    budget = split_steps(s.steps, sizes, s.final_share)
    pair = bench.pair
    image = start_image(pair.target_content, pair.target_styles[0], pair.seed, InputOptions(init=s.init))
    optimizer, state = None, None
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if s.bf16 else nullcontext()
    done = 0
    for size, steps in zip(sizes, budget):
        objective = (bench.final_nchw if s.nchw else bench.final) if size == bench.size and not \
            s.normalize_gradients else bench.objective_at(size, s.normalize_gradients)
        shape = pair.resized(size).content.shape[-2:] if size != bench.size else pair.content.shape[-2:]
        image = param = torch.nn.Parameter(resize(image.detach(), shape))
        lr = s.lr or (1.0 if s.optimizer == "lbfgs" else 0.02)
        if s.optimizer == "lbfgs":
            optimizer = make_optimizer(torch.optim.LBFGS, [image], s.parameterisation, lr=lr,
                                       max_iter=s.lbfgs_max_iter, history_size=100, line_search_fn="strong_wolfe")
        else:
            optimizer = make_optimizer(torch.optim.Adam, [image], s.parameterisation, lr=lr, betas=(0.9, s.beta2))
            if state is not None and s.carry_moments and s.parameterisation == "pixels":
                resize_adam_state(state, shape)
                optimizer.state[image] = state
        ema = ImageEMA(image, s.ema) if s.ema else None

        def closure():
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                bench.vgg.channels_last = not s.nchw
                loss = objective(image)["total"]
            loss.backward()
            return loss

        for i in range(steps):
            if s.cosine:
                warm = min(1.0, (done + 1) / s.warmup) if s.warmup else 1.0
                for group in optimizer.param_groups:
                    group["lr"] = warm * lr * 0.5 * (1 + torch.cos(torch.tensor(done / s.steps * torch.pi)).item())
            elif s.anneal:
                for group in optimizer.param_groups:
                    group["lr"] = lr * anneal_factor(done, s.steps, s.anneal)
            elif s.decay != 1.0:
                for group in optimizer.param_groups:
                    group["lr"] = lr * s.decay ** (done / max(1, s.steps - 1))
            optimizer.step(closure)
            done += 1
            with torch.no_grad():
                image.clamp_(0, 1)
            if ema is not None:
                ema.update(image)
            yield (ema.get() if ema is not None else image).detach()
        if ema is not None:
            image = ema.get()
        if s.optimizer == "adam":
            state = optimizer.state.get(param)


def race(bench: Bench, strategies: list[Strategy], eval_every: int, snapshots: dict | None = None,
         snapshot_at: tuple[int, ...] = ()) -> dict[str, tuple[Curve, torch.Tensor]]:
    """Interleave the strategies' units; time each one's own units; evaluate every few units.
    ``snapshots`` receives ``name@unit`` -> image at each unit of ``snapshot_at`` a strategy passes."""
    runs = {s.name: run_strategy(bench, s) for s in strategies}
    curves = {s.name: Curve([0.0], [bench.evaluate(bench.pair.start)], [0]) for s in strategies}
    clocks = {s.name: 0.0 for s in strategies}
    units = {s.name: 0 for s in strategies}
    last = {}
    every = {s.name: 1 if s.optimizer == "lbfgs" else eval_every for s in strategies}
    while runs:
        for name in list(runs):
            start = time.perf_counter()
            try:
                image = next(runs[name])
            except StopIteration:
                del runs[name]
                curve = curves[name]
                if curve.units[-1] != units[name]:
                    curve.seconds.append(clocks[name])
                    curve.loss.append(bench.evaluate(last[name]))
                    curve.units.append(units[name])
                continue
            clocks[name] += time.perf_counter() - start
            units[name] += 1
            last[name] = image
            if units[name] in snapshot_at and snapshots is not None:
                snapshots[f"{name}@{units[name]}"] = image.clone()
            if units[name] % every[name] == 0:
                curves[name].seconds.append(clocks[name])
                curves[name].loss.append(bench.evaluate(image))
                curves[name].units.append(units[name])
    return {name: (curves[name], last[name]) for name in curves}


def first_time_below(curve: Curve, threshold: float) -> float | None:
    return next((t for t, loss in zip(curve.seconds, curve.loss) if loss <= threshold), None)


def early_stop(curve: Curve, tolerance: float = 0.005, window: int = 2) -> tuple[int, float, float] | None:
    """(units, seconds, loss) where a relative-tolerance stop would have ended ``curve``: the first
    evaluation whose loss is less than ``tolerance`` below the one ``window`` evaluations before
    (what ``EarlyStopping`` with a relative ``min_delta`` does, checked every evaluation)."""
    for k in range(window, len(curve.loss)):
        if curve.loss[k - window] - curve.loss[k] < tolerance * curve.loss[k]:
            return curve.units[k], curve.seconds[k], curve.loss[k]
    return None


def table(pair: str, curves: dict[str, Curve]) -> list[str]:
    ref = curves["adam"]
    at300 = ref.units.index(300) if 300 in ref.units else None
    default_loss = ref.loss[at300] if at300 is not None else float("nan")
    default_time = ref.seconds[at300] if at300 is not None else float("nan")
    finished = ref.loss[-1] * 1.02
    rows = [f"\n{pair}: today's default (300 Adam steps) reaches {default_loss:.4g} in {default_time:.1f} s; "
            f"1000 steps reach {ref.loss[-1]:.4g}",
            "| strategy | units | loss at end | s to default's loss | share of default's time | s to finished |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, c in curves.items():
        t = first_time_below(c, default_loss)
        f = first_time_below(c, finished)
        rows.append(f"| {name} | {c.units[-1]} | {c.loss[-1]:.4g} | {'-' if t is None else f'{t:.1f}'} | "
                    f"{'-' if t is None else f'{t / default_time:.2f}'} | {'-' if f is None else f'{f:.1f}'} |")
    stop = early_stop(ref)
    if stop is not None:
        rows.append(f"\nadam with a relative-tolerance stop (< 0.5 % gain over 20 steps) would stop at step "
                    f"{stop[0]}, {stop[1]:.1f} s, loss {stop[2]:.4g} ({stop[2] / ref.loss[-1]:.3f} x the 1000-step loss)")
    return rows


def reference_table(pair: str, curves: dict[str, Curve], reference: str, measured: dict[str, dict]) -> list[str]:
    """Against the reference's final loss: when each strategy first reaches it (steps, own
    seconds), its best loss, its largest rise over its best so far (a spike) and the metrics
    of its final picture."""
    ref = curves[reference]
    target = ref.loss[-1]
    rows = [f"\n{pair}: {reference} ends at {target:.4g} (best {min(ref.loss):.4g}) in {ref.seconds[-1]:.1f} s",
            "| strategy | steps | s/step | loss at end | best (step) | end / ref end | steps to ref end | "
            "s to ref end | largest rise | SSIM | swd |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, c in curves.items():
        best = min(range(len(c.loss)), key=c.loss.__getitem__)
        reach = next((k for k, loss in enumerate(c.loss) if loss <= target), None)
        rise = max((c.loss[k] / min(c.loss[:k]) - 1 for k in range(1, len(c.loss))), default=0.0)
        m = measured.get(name, {})
        rows.append(f"| {name} | {c.units[-1]} | {c.seconds[-1] / max(1, c.units[-1]):.3f} | {c.loss[-1]:.4g} | "
                    f"{c.loss[best]:.4g} ({c.units[best]}) | {c.loss[-1] / target:.3f} | "
                    f"{'-' if reach is None else c.units[reach]} | {'-' if reach is None else f'{c.seconds[reach]:.1f}'} | "
                    f"{max(0.0, rise):.1%} | {m.get('eval/ssim_content', float('nan')):.3f} | "
                    f"{m.get('eval/sliced_wasserstein', float('nan')):.4g} |")
    return rows


def plot(results: dict[str, dict[str, Curve]], path: Path, reference: str = "adam") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, (pair, curves) in zip(axes[0], results.items()):
        ref = curves[reference]
        for name, c in curves.items():
            label = f"adam: the former default, to {ref.units[-1]} steps" if name == "adam" else name
            ax.plot(c.seconds, c.loss, label=label, lw=2 if name in ("adam", "default") else 1.2)
        if 300 in ref.units:
            ax.axhline(ref.loss[ref.units.index(300)], color="grey", ls=":", lw=1,
                       label=f"{'the former default' if reference == 'adam' else reference}'s loss at 300 steps")
        ax.set_yscale("log")
        top = 3 * ref.loss[min(len(ref.loss) - 1, 3)]
        ax.set_ylim(ref.loss[-1] * 0.7, top)
        ax.set_xlim(0, ref.seconds[ref.units.index(300)] * 1.05 if 300 in ref.units and reference == "adam"
                    else ref.seconds[-1])
        ax.set_title(pair)
        ax.set_xlabel("seconds (own compute, interleaved)")
        ax.set_ylabel("loss at final size")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    from torchvision.utils import save_image

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="building-starry", help=f"comma list of {', '.join(PAIRS)}, or all")
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="comma list; each `name` or `name:key=value;...` (see STRATEGIES)")
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--eval-every", type=int, default=10, help="Adam steps between evaluations")
    parser.add_argument("--reference-steps", type=int, default=1000, help="Adam steps of the reference ('adam')")
    parser.add_argument("--reference", default=None,
                        help="the reference strategy's spec (default: adam:steps=REFERENCE_STEPS, the former default)")
    parser.add_argument("--metrics", action="store_true", help="SSIM and sliced Wasserstein of each final picture")
    parser.add_argument("--snapshot", type=int, action="append", default=[],
                        help="also measure (and save) each strategy's picture at this step (repeatable)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", default=str(ROOT / "outputs" / "time_to_quality"))
    opts = parser.parse_args(argv)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    strategies = [Strategy.named(spec.replace(";", ",")) for spec in opts.strategies.split(",") if spec]
    reference = Strategy.named((opts.reference or f"adam:steps={opts.reference_steps}").replace(";", ","))
    reference.name = opts.reference or "adam"
    strategies = [reference] + [s for s in strategies if s.name != reference.name]
    definition = LossDefinition.from_config(style_layers=None)
    vgg = VGGFeatures(load_weights(opts.weights), definition.layers)
    names = list(PAIRS) if opts.pairs == "all" else opts.pairs.split(",")
    results, lines = {}, [f"size {opts.size} px, torch threads {torch.get_num_threads()}"]
    for name in names:
        content, style = PAIRS[name]
        pair = pair_from_paths(str(ASSETS / content), str(ASSETS / style), opts.size)
        bench = Bench(vgg, definition, pair)
        snapshots: dict[str, torch.Tensor] = {}
        raced = race(bench, strategies, opts.eval_every, snapshots, tuple(opts.snapshot))
        results[name] = {n: c for n, (c, _) in raced.items()}
        (out / name).mkdir(exist_ok=True)
        for n, (_, image) in raced.items():
            save_image(resize(image, pair.content.shape[-2:]), out / name / f"{n}.png")
        if opts.reference is None:
            rows = table(name, results[name])
        else:
            from nst.objective.metrics import StyleTransferMetrics

            metrics = StyleTransferMetrics(vgg, pair.content, pair.styles) if opts.metrics else None
            images = {**{n: image for n, (_, image) in raced.items()}, **snapshots}
            measured = {n: metrics(resize(image, pair.content.shape[-2:])) for n, image in images.items()} \
                if metrics is not None else {}
            rows = reference_table(name, results[name], reference.name, measured)
            rows += [f"{n}: loss {bench.evaluate(image):.4g}, SSIM {measured.get(n, {}).get('eval/ssim_content', float('nan')):.3f}, "
                     f"swd {measured.get(n, {}).get('eval/sliced_wasserstein', float('nan')):.4g}" for n, image in snapshots.items()]
            for n, image in snapshots.items():
                save_image(resize(image, pair.content.shape[-2:]), out / name / f"{n}.png")
        lines += rows
        print("\n".join(rows), flush=True)
        (out / "curves.json").write_text(json.dumps({p: {n: vars(c) for n, c in cs.items()}
                                                     for p, cs in results.items()}, indent=1))
        plot(results, out / "time_to_quality.png", reference.name)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print(f"\nwrote {out}/table.md, curves.json, time_to_quality.png")


if __name__ == "__main__":
    main()
