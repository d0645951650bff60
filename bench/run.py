"""Speed of a style-transfer step: our Lightning path against a plain PyTorch loop.

    python bench/run.py                                  # CPU: 128, 256, 512 px
    python bench/run.py --device cuda                    # CUDA: 512, 1024, 2048 px
    python bench/run.py --sizes 256 --steps 40 --repeats 3
    python bench/run.py --variant "ckpt=--model.activation_checkpointing true"  # more of ours
    python bench/run.py --sizes 256 --plain-variant channels_last --plain-variant compile
    python bench/run.py --write docs/performance/benchmarks.md   # also append the table there

Every variant runs in this one process, one after another, A B A B (``--repeats`` rounds), on
the bundled building photo and Starry Night at each size:

- ``ours``: ``train.py``'s own path (``nst.runs.cli``: LightningCLI, the Trainer with its progress
  bar, TensorBoard logger, checkpointing, image saving, NaN guard; the shipped defaults), timed by
  a callback after each ``training_step`` + optimiser step.
- ``plain``: ``bench/plain_loop.py``, the same work in a hand-written loop.

Seconds per step are measured over steps ``--warmup``..``--steps`` (so start-up, weight loading
and the step-0 image are excluded; the callbacks that run every 50 steps do not fall into the
window by default and are timed separately in the "per event" table). The best round is
reported. Peak memory is, on CPU, the peak resident set of a fresh process that runs only that
variant for a few steps (so one variant's leftovers never count against the next), and on CUDA
``torch.cuda.max_memory_allocated`` during the timed run. GFLOP/s counts the convolutions only: forward to
relu5_1 plus the same again for the gradient with respect to the input (the weights are frozen).
"""

from __future__ import annotations

import argparse
import gc
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from lightning.pytorch import Callback

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from plain_loop import run_plain  # noqa: E402

from nst.runs.cli import run as cli_run  # noqa: E402
from nst.inputs.pair import pair_from_paths  # noqa: E402
from nst.objective.network.weights import load_weights  # noqa: E402

CONTENT = ROOT / "assets" / "building.jpg"
STYLE = ROOT / "assets" / "starry_night.jpg"
VGG19_CONVS_TO_RELU5_1 = [(3, 64), (64, 64), "pool", (64, 128), (128, 128), "pool",
                          (128, 256), (256, 256), (256, 256), (256, 256), "pool",
                          (256, 512), (512, 512), (512, 512), (512, 512), "pool", (512, 512)]


def conv_gflop(h: int, w: int) -> float:
    """Forward + input-gradient FLOPs of VGG19's convolutions up to relu5_1, in GFLOP."""
    flop = 0.0
    for layer in VGG19_CONVS_TO_RELU5_1:
        if layer == "pool":
            h, w = h // 2, w // 2
            continue
        c_in, c_out = layer
        flop += 2 * 9 * c_in * c_out * h * w
    return 2 * flop / 1e9


class PeakMemory:
    """Peak allocated CUDA memory while the block runs, in MiB (CPU: see ``fresh_process_rss``)."""

    def __init__(self, device: torch.device):
        self.device, self.mib = device, float("nan")

    def __enter__(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.mib = torch.cuda.max_memory_allocated() / 2**20


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss it does not carry the parent's
    peak over a fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def fresh_process_rss(variant: str, size: int, opts, extra: list[str]) -> float:
    """Peak RSS in MiB of a new Python process that runs ``variant`` for a few steps."""
    command = [sys.executable, __file__, "--peak-rss-of", variant, "--sizes", str(size),
               "--steps", str(opts.warmup + 3), "--warmup", "1", "--weights", opts.weights,
               "--precision", opts.precision, "--extra", shlex.join(extra)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


class StepClock:
    """Wall time from the end of step ``warmup`` to the end of step ``steps - 1`` (synchronised
    only at those two points, so the clock itself adds no per-step sync)."""

    def __init__(self, warmup: int, steps: int, device: torch.device):
        self.warmup, self.steps, self.device = warmup, steps, device
        self.start = self.end = None

    def __call__(self, step: int) -> None:
        if step in (self.warmup, self.steps - 1):
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            if step == self.warmup:
                self.start = now
            else:
                self.end = now

    @property
    def seconds_per_step(self) -> float:
        return (self.end - self.start) / (self.steps - 1 - self.warmup)


class ClockCallback(Callback):
    def __init__(self, clock: StepClock):
        self.clock = clock

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.clock(trainer.global_step - 1)


def time_ours(size, steps, warmup, device, precision, weights, extra: list[str], out_dir) -> tuple:
    clock = StepClock(warmup, steps, device)
    args = [
        "--data.content", str(CONTENT), "--data.style", str(STYLE), "--data.size", str(size),
        "--model.weights", weights, "--model.strength_reference_size", "null",
        "--trainer.max_steps", str(steps), "--trainer.accelerator", device.type, "--trainer.devices", "1",
        "--trainer.precision", precision, "--output_dir", str(out_dir), "--run_name", f"ours_{size}",
        *extra,
    ]
    with PeakMemory(device) as memory:
        cli = cli_run(args, fit=False)
        cli.trainer.callbacks.append(ClockCallback(clock))
        cli.fit()
    return clock.seconds_per_step, memory.mib


def time_plain(size, steps, warmup, device, precision, weights, extra, out_dir) -> tuple:
    """``extra``: options of ``run_plain`` (``channels_last``, ``compile``) to switch on."""
    clock = StepClock(warmup, steps, device)
    with PeakMemory(device) as memory:
        pair = pair_from_paths(str(CONTENT), str(STYLE), size)
        w = load_weights(weights, progress=False)
        run_plain(w.state_dict, w.preprocessing, pair.content, pair.styles[0], steps, device, clock,
                  precision, **{option: True for option in extra})
    return clock.seconds_per_step, memory.mib


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name()}"
    return text


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sizes", type=int, nargs="+", help="long sides (default 128 256 512 on "
                        "CPU, 512 1024 2048 on CUDA)")
    parser.add_argument("--steps", type=int, default=30, help="steps per run (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    parser.add_argument("--repeats", type=int, default=2, help="A B A B rounds; the best is kept")
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    parser.add_argument("--weights", default="vgg19-caffe", help="as model.weights")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS",
                        help="another variant of ours: a name and train.py arguments")
    parser.add_argument("--no-plain", action="store_true", help="leave the plain loop out")
    parser.add_argument("--plain-variant", action="append", default=[], choices=["channels_last", "compile"],
                        help="also time the plain loop with this speed-up (repeatable)")
    parser.add_argument("--write", metavar="FILE", help="append the table to this markdown file")
    parser.add_argument("--peak-rss-of", help=argparse.SUPPRESS)  # internal: one fresh-process run
    parser.add_argument("--extra", default="", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    device = torch.device(opts.device)
    if opts.peak_rss_of:
        timer = time_plain if opts.peak_rss_of.startswith("plain") else time_ours
        with tempfile.TemporaryDirectory() as tmp:
            timer(opts.sizes[0], opts.steps, opts.warmup, device, opts.precision, opts.weights,
                  shlex.split(opts.extra), Path(tmp))
        print(peak_rss_mib())
        return ""
    sizes = opts.sizes or ([128, 256, 512] if device.type == "cpu" else [512, 1024, 2048])
    variants = {"ours": (time_ours, [])}
    for spec in opts.variant:
        name, _, args = spec.partition("=")
        variants[name] = (time_ours, shlex.split(args))
    if not opts.no_plain:
        variants["plain"] = (time_plain, [])
    for option in opts.plain_variant:
        variants[f"plain+{option}"] = (time_plain, [option])
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for _ in range(opts.repeats):
                for name, (timer, extra) in variants.items():
                    result = timer(size, opts.steps, opts.warmup, device, opts.precision, opts.weights,
                                   extra, Path(tmp))
                    results.setdefault((name, size), []).append(result)
                    print(f"# {name} {size}px: {result[0]:.4f} s/step", flush=True)
            if device.type == "cpu":
                for name, (timer, extra) in variants.items():
                    rss = fresh_process_rss(name, size, opts, extra)
                    results[(name, size)] = [(t, rss) for t, _ in results[(name, size)]]
    memory = "peak RSS MiB" if device.type == "cpu" else "peak alloc MiB"
    lines = [
        f"{machine()}; {opts.precision}; steps {opts.warmup}..{opts.steps} of each run, best of "
        f"{opts.repeats} A B rounds",
        "",
        f"| size | variant | s/step | ours/plain | {memory} | GFLOP/s | spread |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        pair = pair_from_paths(str(CONTENT), str(STYLE), size)
        h, w = pair.content.shape[-2:]
        plain = min(r[0] for r in results[("plain", size)]) if not opts.no_plain else None
        for name in variants:
            runs = results[(name, size)]
            best = min(r[0] for r in runs)
            spread = (max(r[0] for r in runs) - best) / best
            ratio = f"{best / plain:.3f}" if plain else "-"
            lines.append(
                f"| {w}x{h} | {name} | {best:.4f} | {ratio} | {max(r[1] for r in runs):.0f} | "
                f"{conv_gflop(h, w) / best:.1f} | {spread:.1%} |"
            )
    table = "\n".join(lines)
    print(table)
    if opts.write:
        with open(opts.write, "a") as f:
            f.write(f"\n`python bench/run.py {' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))}`\n\n"
                    f"{table}\n")
    return table


if __name__ == "__main__":
    main()
