"""Where a run's start-up goes: ``train.py --config starry.yaml --trainer.max_steps 1`` phase by
phase, in a fresh process each time (imports, parsing, the Trainer, inputs, weights, targets,
the strength balance pass, the first step, the end of the run), and the Python API's call to
first step, cold and warm, in one process.

    python bench/startup.py --weights /path/vgg19.safetensors --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
CHILD = r'''
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
marks = {}
def mark(name):  # wall and CPU seconds (CPU time is what a loaded machine distorts least)
    marks[name] = (time.perf_counter() - t0, time.process_time() - c0)
import torch; mark("import torch")
import lightning; mark("import lightning")
import nst.runs.cli as cli; mark("import nst")
import nst.model.strength as strength, nst.objective.network.weights as weights, nst.model.stages as stages
from lightning.pytorch import Callback

def timed(module, name, label):
    inner = getattr(module, name)
    def wrapper(*a, **k):
        start, cpu = time.perf_counter(), time.process_time(); out = inner(*a, **k)
        wall0, cpu0 = marks.get(label, (0, 0))
        marks[label] = (wall0 + time.perf_counter() - start, cpu0 + time.process_time() - cpu)
        return out
    setattr(module, name, wrapper)
timed(weights, "load_weights", "(weights: load)")
timed(strength, "keep_balance_of", "(balance pass)")
timed(stages, "build_objectives", "(targets: build objectives)")

class Marks(Callback):
    def setup(self, trainer, pl_module, stage): mark("trainer built, setup")
    def on_train_start(self, trainer, pl_module): mark("inputs + network ready (train start)")
    def on_train_batch_end(self, trainer, pl_module, *a):
        if trainer.global_step == 1: mark("first step done")
    def on_train_end(self, trainer, pl_module): mark("train end")
args = cli.canonical_args(sys.argv[1:])
mark("parse start")
c = cli.parse(args, instantiate=True, callbacks=[Marks()]); mark("parsed + instantiated")
c.fit(); mark("fit returned (final.png, metrics, checkpoint)")
print("MARKS" + json.dumps(marks))
'''


def cold(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=PROJECT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
    line = [l for l in out.stdout.splitlines() if l.startswith("MARKS")]
    if not line:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(line[0][5:])


def api_calls(weights: str, size: int, calls: int) -> list[float]:
    """Seconds from ``stylize`` to its first step's end, call after call in one process."""
    import nst

    seconds = []
    for _ in range(calls):
        start, first = (time.perf_counter(), time.process_time()), []
        nst.stylize("building.jpg", "starry_night.jpg", size=size, steps=2, weights=weights, progress_every=1,
                    on_progress=lambda p: first.append((time.perf_counter(), time.process_time())) if p.step <= 1 else None)
        seconds.append([(f[0] - start[0], f[1] - start[1]) for f in first])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="vgg19-caffe")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="the API's call-to-first-step size")
    parser.add_argument("--extra", nargs="*", default=[], help="more train.py arguments")
    a = parser.parse_args()
    args = ["--config", "configs/starry.yaml", "--trainer.max_steps", "1", "--model.weights", a.weights,
            "--trainer.enable_progress_bar", "false", "--output_dir", "/tmp/nst-startup", *a.extra]
    runs = [cold(args) for _ in range(a.repeat)]
    print(f"train.py {' '.join(args)}  (median of {a.repeat} fresh processes; since the process's first "
          f"line; load average {os.getloadavg()[0]:.1f}; (name): time inside that function)")
    print("| phase | wall s | CPU s |\n| --- | ---: | ---: |")
    for key in runs[0]:
        wall = statistics.median(r.get(key, (0, 0))[0] for r in runs)
        cpu = statistics.median(r.get(key, (0, 0))[1] for r in runs)
        print(f"| {key} | {wall:.2f} | {cpu:.2f} |")
    calls = api_calls(a.weights, a.size, 4)
    print(f"\nnst.stylize at {a.size} px in one process (load average {os.getloadavg()[0]:.1f}), wall / CPU s:")
    print("| call | to the first step's start | to the first step's end |\n| --- | ---: | ---: |")
    for i, (begin, end) in enumerate(calls):
        print(f"| {'cold' if i == 0 else f'warm {i}'} | {begin[0]:.2f} / {begin[1]:.2f} | {end[0]:.2f} / {end[1]:.2f} |")


if __name__ == "__main__":
    main()
