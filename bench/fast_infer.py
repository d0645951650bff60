"""Milliseconds per picture of a real-time style network against the optimisation's time for
the same picture.

    OMP_NUM_THREADS=2 nice python bench/fast_infer.py --weights /work/shared/vgg19/vgg19_features.safetensors

For each long side (default 256, 512, 1024 px of assets/building.jpg) it times one forward pass
of each network variant (``--variants``: ``fast``, ``small``, ``johnson``; untrained weights: the
same arithmetic; ``--paints-over``: built as ``fast_starry_cpu.yaml`` trains them) in
fp32, in bf16 autocast (where the CPU has bf16: emulated it is many times slower) and as its
ONNX export run by ONNX Runtime (``--model x.onnx``; fp32), interleaved round by round (every variant once, then again) so that
a shared machine's drift falls on all alike; the median of ``--repeats`` rounds after one
untimed. The optimisation's time is measured, not guessed: ``--opt-steps`` Adam steps of the
shipped objective (gram, bf16 where native) after one untimed, per step x 200 steps (the
shipped ``trainer.max_steps``): an extrapolation, said so in the table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst.hardware import native_bf16_cpu  # noqa: E402
from nst.inputs.pair import pair_from_paths  # noqa: E402
from nst.media.images import load_image, resize_long_side  # noqa: E402
from nst.objective.network.features import VGGFeatures  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402
from nst.objective.style_objective import LossDefinition, LossWeights, StyleObjective  # noqa: E402
from nst.realtime.network import TransformerNet  # noqa: E402

ASSETS = ROOT / "assets"
STEPS = 200  # configs/starry.yaml's trainer.max_steps


def autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


def onnx_sessions(networks: dict[str, TransformerNet], threads: int) -> dict:
    """Each network exported to ONNX (a temporary file) and opened as ``nst.load_style`` opens it."""
    import tempfile

    from nst.realtime.apply import onnx_session
    from nst.realtime.export import export_onnx

    sessions = {}
    with tempfile.TemporaryDirectory() as folder:
        for variant, network in networks.items():
            path = export_onnx(network, Path(folder) / f"{variant}.onnx")
            sessions[(variant, "onnx")] = onnx_session(path, threads)
    return sessions


def network_ms(networks: dict, photo: torch.Tensor, repeats: int) -> dict[str, float]:
    times = {key: [] for key in networks}
    with torch.inference_mode():
        for round_ in range(repeats + 1):
            for (variant, precision), network in networks.items():
                began = time.perf_counter()
                if precision == "onnx":
                    network.run(None, {"photo": photo.numpy()})
                else:
                    with autocast(precision):
                        network(photo)
                if round_:
                    times[(variant, precision)].append((time.perf_counter() - began) * 1000)
    return {key: statistics.median(values) for key, values in times.items()}


def optimisation_step_s(vgg: VGGFeatures, size: int, steps: int, bf16: bool) -> float:
    pair = pair_from_paths(str(ASSETS / "building.jpg"), str(ASSETS / "starry_night.jpg"), size)
    definition = LossDefinition.from_config()
    objective = StyleObjective.build(vgg, definition, pair.content, pair.styles,
                                     LossWeights(*definition.default_weights()))
    image = pair.start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.03)
    seconds = []
    for step in range(steps + 1):
        began = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast("bf16" if bf16 else "32"):
            loss = objective(image)["total"]
        loss.backward()
        optimizer.step()
        if step:
            seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--variants", default="fast,small,johnson", help="nst.realtime.network.VARIANTS to time")
    parser.add_argument("--paints-over", action="store_true",
                        help="from_photo + painting_colours, as fast_starry_cpu.yaml trains them")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--opt-steps", type=int, default=2)
    args = parser.parse_args()
    variants = args.variants.split(",")
    bf16_native = native_bf16_cpu()
    precisions = ("fp32", "bf16") if bf16_native else ("fp32",)  # emulated bf16 is many times slower: not timed
    built = {v: TransformerNet(v, args.paints_over, args.paints_over).eval() for v in variants}
    networks = {(v, p): built[v] for v in variants for p in precisions}
    networks.update(onnx_sessions(built, torch.get_num_threads()))
    vgg = VGGFeatures(load_weights(args.weights), LossDefinition.from_config().layers)
    photo_full = load_image(ASSETS / "building.jpg")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), bf16 native: {bf16_native}, "
          f"paints over the photo: {args.paints_over}")
    columns = [(v, p) for v in variants for p in ("fp32", "bf16", "onnx")]
    names = {"fp32": "fp32", "bf16": "bf16", "onnx": "ONNX Runtime"}
    rows = ["| long side | " + " | ".join(f"{v} {names[p]}" for v, p in columns)
            + " | optimisation (200 steps) | optimisation / fastest |", "| --- " * (len(columns) + 3) + "|"]
    for size in (int(s) for s in args.sizes.split(",")):
        photo = resize_long_side(photo_full, size)
        ms = network_ms(networks, photo, args.repeats)
        h, w = photo.shape[-2:]
        row = "| " + " | ".join([f"{size} ({w}x{h})"] + [f"{ms[key]:.0f} ms" if key in ms else "(emulated)"
                                                        for key in columns]) + " | "
        if args.opt_steps:  # --opt-steps 0: the networks alone
            step = optimisation_step_s(vgg, size, args.opt_steps, bf16_native)
            total = step * STEPS
            row += f"{total:.0f} s ({step:.2f} s/step x {STEPS}, extrapolated) | {total * 1000 / min(ms.values()):.0f}x |"
        else:
            row += "(not run) | |"
        rows.append(row)
        print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
