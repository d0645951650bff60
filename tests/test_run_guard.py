"""RunGuard and ImageSaver: NaN/Inf, interruption and resumption lose nothing."""

import errno
import io
import os
import signal
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

import train
from nst.runs.cli import NSTCLI, run
from nst.media.images import load_image
from tests.conftest import tiny_args
from tests.test_cli import one_line_error


def test_nan_keeps_last_good_image_and_names_the_knob(tmp_path, capsys):
    args = tiny_args(tmp_path, "--model.style_weight", "1e300", "--run_guard.check_every_n_steps", "1",
                     "--image_saver.every_n_steps", "1", steps=5)
    assert train.main(args) == 2
    line = one_line_error(capsys)
    assert "NaN/Inf" in line and "model.lr" in line
    run_dir = tmp_path / "outputs" / "home_starry_night" / "version_0"
    good = load_image(run_dir / "last_good.png")
    assert torch.isfinite(good).all()
    assert (run_dir / "step_00000.png").is_file()  # nothing produced earlier is lost
    assert not (run_dir / "interrupted.png").exists()  # no NaN image written


def test_restore_and_halve_lr_tries_again(tmp_path, capsys):
    args = tiny_args(tmp_path, "--model.style_weight", "1e300", "--run_guard.check_every_n_steps", "1",
                     "--run_guard.on_nan", "restore_and_halve_lr", "--run_guard.max_restores", "2", steps=6)
    assert train.main(args) == 2
    captured = capsys.readouterr().err
    assert captured.count("with lr") == 2 and "NaN/Inf" in captured


class Interrupt(Callback):
    def __init__(self, at_step, how):
        self.at_step, self.how = at_step, how

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.at_step:
            if self.how == "ctrl-c":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupted_run_keeps_image_and_checkpoint_and_resumes(tmp_path, capsys, how):
    cli = NSTCLI(tiny_args(tmp_path, "--checkpoint.every_n_train_steps", "100", steps=10))
    cli.trainer.callbacks.append(Interrupt(3, how))
    with pytest.raises(SystemExit):
        cli.fit()
    run_dir = Path(cli.trainer.log_dir)
    assert (run_dir / "interrupted.png").is_file()
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert 3 <= ckpt["global_step"] <= 4
    assert "--ckpt_path" in capsys.readouterr().err
    resumed = run(tiny_args(tmp_path, "--ckpt_path", "last", steps=10))
    assert resumed.trainer.global_step == 10 and Path(resumed.trainer.log_dir) == run_dir


@pytest.mark.parametrize("loss", ["gram", "sliced_wasserstein"])
def test_resume_is_bit_for_bit(tmp_path, loss):
    # lr_schedule constant: the default (auto: anneal) follows trainer.max_steps, so a run of 3 steps
    # resumed to 6 takes other learning rates than 6 steps straight, by design
    common = ["--trainer.deterministic", "true", "--model.style_loss", loss, "--model.style_weight", "30",
              "--checkpoint.every_n_train_steps", "3", "--model.lr_schedule", "constant"]
    straight = run(tiny_args(tmp_path / "a", *common, steps=6)).model.images[0].detach().clone()
    run(tiny_args(tmp_path / "b", *common, steps=3))
    resumed = run(tiny_args(tmp_path / "b", *common, "--ckpt_path", "last", steps=6))
    assert resumed.trainer.global_step == 6
    assert torch.equal(straight, resumed.model.images[0].detach())


def test_a_full_disk_is_one_line_and_keeps_what_was_written(tmp_path, capsys, monkeypatch):
    import nst.media.images as images

    real_fdopen, calls = os.fdopen, []

    class FillingFile(io.FileIO):
        def write(self, data):  # the image files: a partial write, then the disk is full
            calls.append(self.name)
            if len(calls) > 3:
                super().write(b"\x89PNG half")
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(images.os, "fdopen", lambda fd, mode="r", *a, **k: FillingFile(fd, "w")
                        if mode == "wb" else real_fdopen(fd, mode, *a, **k))
    assert train.main(tiny_args(tmp_path, "--image_saver.every_n_steps", "1", steps=6)) == 2
    line = one_line_error(capsys)
    assert "No space left on device" in line and "Fix:" in line
    run_dir = tmp_path / "outputs" / "home_starry_night" / "version_0"
    kept = sorted(p.name for p in run_dir.glob("*.png"))
    assert kept == ["step_00000.png", "step_00001.png", "step_00002.png"]
    monkeypatch.undo()
    assert all(load_image(run_dir / name).shape == (1, 3, 24, 32) for name in kept)  # whole files
    assert not list(run_dir.rglob("*.tmp"))  # no half-written file left behind
