"""The checks a GPU run needs and a CPU cannot make, in one script: under 5 minutes
on one GPU, a table, and a non-zero exit on any failure.

    python bench/cuda_check.py                            # on the GPU: 512 px, tiles at 2048 px, ...
    python bench/cuda_check.py --weights vgg19-caffe      # weights (default: ../shared/vgg19 if there)
    python bench/cuda_check.py --device cpu               # a dry run at tiny sizes (the test suite runs it)

Each row is one ordinary run through ``nst.runs.cli`` (the command's own path), checked for
what would break on a GPU: the default run (bf16-mixed, moving average), a resume of it with
the moving average restored from the CPU, bf16, 16-mixed as on a GPU before Ampere (no bf16:
imitated by saying so) with normalised gradients, L-BFGS there (32-true), tiles at 2048 px, a
short video, ``size: auto``, a sweep of three variants (the memory still allocated when each
next variant starts must not grow) and ``bench/run.py`` on the device. The peak memory column
is ``torch.cuda.max_memory_allocated`` of the row (``-`` on the CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst.runs.cli import fit_run, parse, run  # noqa: E402
from nst.runs.plan import build_plan, execute  # noqa: E402

ASSETS = ROOT / "assets"
SHARED_WEIGHTS = ROOT.parent / "shared" / "vgg19" / "vgg19_features.safetensors"
# (GPU, CPU dry run): long sides, steps, the tile and its halo
SIZES = {"cuda": dict(size=512, steps=60, tiled=2048, tile=512, halo=80, video=256, frames=3, lbfgs=(4, 5)),
         "cpu": dict(size=32, steps=2, tiled=64, tile=32, halo=16, video=32, frames=2, lbfgs=(2, 2))}
# the dry run: the first two blocks of VGG19 only (what it checks is the script, not the network)
DRY = ["--model.style_layers", "[relu1_1, relu2_1]", "--model.content_layers", "[relu2_1]",
       "--eval_metrics.enabled", "false"]


class Check:
    """One row: a name, what it checks, and the function that raises on failure (returns a detail)."""

    def __init__(self, name: str, what: str, body):
        self.name, self.what, self.body = name, what, body


def base_args(opts, out: Path, name: str, *extra: str, size: int | None = None, steps: int | None = None,
              content: str = "building.jpg") -> list[str]:
    s = SIZES[opts.device]
    return ["--data.content", str(ASSETS / content), "--data.style", str(ASSETS / "starry_night.jpg"),
            "--model.weights", opts.weights, "--data.size", str(size or s["size"]),
            "--trainer.max_steps", str(steps or s["steps"]), "--trainer.accelerator", opts.device,
            "--trainer.enable_progress_bar", "false", "--trainer.log_every_n_steps", "1", "--output_dir", str(out), "--run_name", name,
            *(["--model.style_weight", "1e4"] if opts.weights == "random" else []),
            *(DRY if opts.device == "cpu" else []), *extra]


def finished(cli, what: str = "final.png") -> str:
    """The run wrote its result, and its image is finite and in [0, 1]; returns a detail."""
    path = Path(cli.trainer.log_dir) / what
    if not path.is_file():
        raise AssertionError(f"no {what}")
    images = list(cli.model.images)
    if not all(torch.isfinite(i).all() and i.min() >= 0 and i.max() <= 1 for i in images):
        raise AssertionError("the image is not finite in [0, 1]")
    devices = {str(i.device) for i in images}
    return f"{cli.trainer.precision}, {'x'.join(map(str, images[0].shape[-2:]))} px on {', '.join(devices)}"


@contextlib.contextmanager
def without_bf16(device: str):
    """A GPU before Ampere (T4, V100), as ``nst.hardware`` sees it; nothing changes on a CPU."""
    if device != "cuda":
        yield
        return
    with mock.patch.object(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False):
        yield


def checks(opts, out: Path) -> list[Check]:
    s, device = SIZES[opts.device], opts.device

    def default():
        return finished(run(base_args(opts, out, "default", "--checkpoint.every_n_train_steps", "1")))

    def resume():  # the moving average comes back from a checkpoint loaded to the CPU
        more = str(s["steps"] + 2)
        return finished(run(base_args(opts, out, "default", "--ckpt_path", "last", steps=int(more))))

    def bf16():
        return finished(run(base_args(opts, out, "bf16", "--trainer.precision", "bf16-mixed")))

    def fp16():
        with without_bf16(device):
            cli = run(base_args(opts, out, "fp16", "--trainer.precision", "bf16-mixed",
                                "--model.normalize_gradients", "true"))
        if device == "cuda" and cli.trainer.precision != "16-mixed":
            raise AssertionError(f"ran {cli.trainer.precision}, not 16-mixed")
        losses = cli.trainer.logged_metrics
        return finished(cli) + f", loss {float(losses['loss/total']):.4g}"

    def lbfgs():
        with without_bf16(device):
            steps, iterations = s["lbfgs"]
            cli = run(base_args(opts, out, "lbfgs", "--model.optimizer", "lbfgs", "--model.lbfgs_max_iter",
                                str(iterations), "--trainer.precision", "bf16-mixed", steps=steps))
        if device == "cuda" and cli.trainer.precision != "32-true":
            raise AssertionError(f"L-BFGS ran {cli.trainer.precision}, not 32-true")
        return finished(cli)

    def tiles():
        return finished(run(base_args(opts, out, "tiles", "--model.tile_size", str(s["tile"]), "--model.tile_halo",
                                      str(s["halo"]), "--eval_metrics.enabled", "false", size=s["tiled"],
                                      steps=min(3, s["steps"]))))

    def video():
        cli = run(base_args(opts, out, "video", "--data.max_frames", str(s["frames"]), "--model.steps_first_frame",
                            "4", "--model.steps_per_frame", "2", size=s["video"], content="tree.avi"))
        return finished(cli, "final.mp4")

    def size_auto():
        if device == "cpu":  # the CPU's free memory would pick a size that takes minutes here
            cli = run(base_args(opts, out, "auto", "--data.size", "auto"), fit=False)
            return f"would run at {cli.config.data.size} px (not run on the CPU)"
        cli = run(base_args(opts, out, "auto", "--data.size", "auto", steps=5))
        return finished(cli)

    def sweep():
        held = []

        def fit(args):  # what is still allocated when each variant starts (the finished ones freed)
            held.append(torch.cuda.memory_allocated() if device == "cuda" else 0)
            return fit_run(args)

        args = base_args(opts, out, "sweep", "--sweep", "model.style_loss=gram,mean_std,wasserstein2",
                         "--eval_metrics.enabled", "false", steps=min(5, s["steps"]))
        from nst.runs.arguments import canonical_args

        sheet = execute(build_plan(canonical_args(args), parse), fit)
        held.append(torch.cuda.memory_allocated() if device == "cuda" else 0)
        if not Path(sheet).is_file():
            raise AssertionError("no contact sheet")
        if max(held[1:]) > held[1] + (64 << 20):
            raise AssertionError(f"memory held grows from variant to variant: {mib(held)} MiB")
        return f"MiB allocated at each start and after: {mib(held)}"

    def bench_run():
        command = [sys.executable, str(ROOT / "bench" / "run.py"), "--device", device, "--sizes", str(s["size"]),
                   "--steps", "8" if device == "cuda" else "3", "--warmup", "2" if device == "cuda" else "1",
                   "--repeats", "1", "--no-plain", "--weights", opts.weights]
        done = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=ROOT)
        if done.returncode:
            raise AssertionError(" ".join(done.stderr.strip().splitlines()[-1:]) or f"exit {done.returncode}")
        row = next((line for line in done.stdout.splitlines() if line.startswith("|") and " ours " in line), "")
        return " ".join(row.split())[:90] or "no table row for ours"

    return [Check("default", f"{s['size']} px, shipped defaults (bf16-mixed, moving average)", default),
            Check("resume", "--ckpt_path last with the moving average restored", resume),
            Check("bf16", "--trainer.precision bf16-mixed", bf16),
            Check("16-mixed", "no bf16 (pre-Ampere, imitated): 16-mixed with normalize_gradients", fp16),
            Check("lbfgs", "L-BFGS where bf16 is missing: 32-true, no AMP", lbfgs),
            Check("tiles", f"{s['tiled']} px in {s['tile']} px tiles", tiles),
            Check("video", f"tree.avi, {s['frames']} frames at {s['video']} px", video),
            Check("size auto", "--data.size auto on this device", size_auto),
            Check("sweep", "three style losses one after another; memory held at each start", sweep),
            Check("bench/run.py", f"bench/run.py --device {device}", bench_run)]


def mib(values: list[int]) -> str:
    return ", ".join(f"{v / 2**20:.0f}" for v in values)


def run_check(check: Check, device: str) -> tuple[str, str, float, str]:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    try:
        status, detail = "ok", check.body()
    except BaseException as e:  # noqa: BLE001 (a SystemExit of the CLI is a failure too)
        if isinstance(e, KeyboardInterrupt):
            raise
        status, detail = "FAIL", " ".join(f"{type(e).__name__}: {e}".split())[:160]
        traceback.print_exc()
    peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if device == "cuda" else "-"
    return status, detail, time.perf_counter() - began, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--weights", default=None, help="model.weights (default: ../shared/vgg19 where it is, "
                                                        "vgg19-caffe otherwise; random for --device cpu)")
    parser.add_argument("--only", action="append", default=[], help="run only the checks of these names")
    opts = parser.parse_args(argv)
    if opts.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device. Fix: run on a machine with a GPU, or --device cpu for the dry run",
              file=sys.stderr)
        return 2
    if opts.weights is None:
        opts.weights = "random" if opts.device == "cpu" else (
            str(SHARED_WEIGHTS) if SHARED_WEIGHTS.is_file() else "vgg19-caffe")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for check in checks(opts, Path(tmp)):
            if opts.only and check.name not in opts.only:
                continue
            rows.append((check, *run_check(check, opts.device)))
            print(f"# {check.name}: {rows[-1][1]}", flush=True)
    name = torch.cuda.get_device_name() if opts.device == "cuda" else "CPU (dry run, tiny sizes)"
    print(f"\n{name}; torch {torch.__version__}\n")
    print("| check | what | result | s | peak MiB | detail |\n|---|---|---|---:|---:|---|")
    for check, status, detail, seconds, peak in rows:
        print(f"| {check.name} | {check.what} | {status} | {seconds:.1f} | {peak} | {detail} |")
    failed = [check.name for check, status, *_ in rows if status != "ok"]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} ok" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
