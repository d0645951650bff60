"""The command as a tool: its last line names the picture, its bar counts the run's steps (also
after a resume), and a run stopped by SIGTERM or Ctrl-C keeps its work but exits non-zero.
Random-initialised VGG19 on purpose (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT, tiny_args


def command(tmp_path: Path, *extra: str, steps: int = 3, bar: bool = False) -> list[str]:
    args = tiny_args(tmp_path, *extra, steps=steps)
    if bar:
        i = args.index("--trainer.enable_progress_bar")
        del args[i: i + 2]
    return [sys.executable, str(PROJECT / "train.py"), *args]


def env() -> dict:
    return {**os.environ, "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}


def test_the_last_line_names_the_picture_its_size_the_time_and_tensorboard(tmp_path):
    done = subprocess.run(command(tmp_path), capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    run = tmp_path / "outputs" / "home_starry_night" / "version_0"
    assert re.fullmatch(rf"nst: done in [\d.]+ s: {re.escape(str(run / 'final.png'))} \(32x24\); "
                        rf"watch it: tensorboard --logdir {re.escape(str(run))}", last), last
    assert "weights_only" not in done.stdout + done.stderr


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 240) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.2)


@pytest.mark.parametrize("sent, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_keeps_its_work_exits_non_zero_and_resumes_to_a_final_picture(tmp_path, sent, code):
    run = tmp_path / "outputs" / "home_starry_night" / "version_0"
    process = subprocess.Popen(command(tmp_path, "--image_saver.every_n_steps", "2", steps=100000), cwd=tmp_path,
                               env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(run / "step_00002.png", process)  # a few steps in
    process.send_signal(sent)
    out, err = process.communicate(timeout=120)
    assert process.returncode == code, err[-2000:]
    assert (run / "interrupted.png").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert "weights_only" not in out + err
    import torch

    stopped_at = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    resumed = subprocess.run(command(tmp_path, "--ckpt_path", "last", steps=stopped_at + 2, bar=True),
                             capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (run / "final.png").is_file()
    assert "weights_only" not in resumed.stdout + resumed.stderr
    bar = [line for line in resumed.stdout.splitlines() if line.startswith("step ")]
    assert bar and f" {stopped_at + 2}/{stopped_at + 2} " in bar[-1], resumed.stdout[-1500:]
    assert "Epoch" not in resumed.stdout and "v_num" not in resumed.stdout


def test_the_bar_counts_steps_and_shows_the_loss_to_three_figures(tmp_path):
    done = subprocess.run(command(tmp_path, "--model.stages", "[24,32]", steps=6, bar=True), capture_output=True,
                          text=True, env=env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    bar = [line for line in done.stdout.splitlines() if "steps/s" in line]
    assert bar, done.stdout[-1500:]
    assert re.search(r"stage 2/2 \(32 px\) step .* 6/6 [\d.]+ steps/s .*loss: [\d.e+-]+", bar[-1]), bar[-1]
    loss = re.search(r"loss: (\S+)", bar[-1]).group(1)
    assert len(re.sub(r"e.*|[-.]|^0\.0*", "", loss)) <= 3, loss  # three significant figures
