"""``bench/cuda_check.py``, the GPU checklist, as a dry run on the CPU at tiny sizes:
every check runs its code path and the table says ok (on a GPU it checks what a CPU cannot)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT


def test_the_gpu_checklist_runs_dry_on_the_cpu(tmp_path):
    done = subprocess.run([sys.executable, str(PROJECT / "bench" / "cuda_check.py"), "--device", "cpu"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and " ok " in line]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == ["default", "resume", "bf16", "16-mixed", "lbfgs", "tiles", "video", "size auto", "sweep",
                     "bench/run.py"], done.stdout[-3000:]
    assert "10/10 ok" in done.stdout


def test_the_gpu_checklist_without_a_gpu_says_so_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(PROJECT / "bench" / "cuda_check.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: no CUDA device") and done.stderr.count("\n") == 1
