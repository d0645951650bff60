"""Bad input gets one line and exit code 2; interrupted, NaN and resumed runs lose nothing."""

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lightning.pytorch import Callback
from PIL import Image

import train
from nst.cli import NSTCLI, run
from nst.errors import ImageError
from nst.images import load_image
from tests.conftest import ASSETS, tiny_args


def one_line_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    return err[0]


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def png(path: Path, width: int, height: int, mode: str = "RGB") -> str:
    Image.new(mode, (width, height)).save(path)
    return str(path)


BAD_CONTENT = {
    "missing": (lambda d: str(d / "nope.jpg"), "does not exist"),
    "empty directory": (lambda d: str(d), "matches no image files"),  # a folder: its images
    "empty": (lambda d: write(d / "empty.jpg", b""), "empty file"),
    "truncated": (lambda d: write(d / "cut.jpg", (ASSETS / "home.jpg").read_bytes()[:5000]), "cannot read"),
    "not an image": (lambda d: write(d / "notes.png", b"just some text, not a PNG"), "cannot read"),
    "one pixel": (lambda d: png(d / "dot.png", 1, 1), "only 1x1 px"),
    "too thin at size": (lambda d: png(d / "strip.png", 640, 16), "VGG19 needs at least"),
}


@pytest.mark.parametrize("case", BAD_CONTENT)
def test_bad_content_image(tmp_path, capsys, case):
    make, message = BAD_CONTENT[case]
    assert train.main(tiny_args(tmp_path, "--model.content", make(tmp_path), steps=1)) == 2
    line = one_line_error(capsys)
    assert message in line and "Traceback" not in capsys.readouterr().err


def test_pixel_limit_can_be_raised(tmp_path, capsys):
    args = tiny_args(tmp_path, "--model.max_input_pixels", "100000", steps=1)
    assert train.main(args) == 2  # starry_night.jpg is 752x600 = 0.45 MP
    assert "max_input_pixels" in one_line_error(capsys)
    assert train.main(tiny_args(tmp_path, "--model.max_input_pixels", "1000000", steps=1)) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model.style_layers", "[relu1_1, relu9_1]"], "Valid names: conv1_1"),
        (["--model.content_weight", "nan"], "content_weight"),
        (["--model.tv_weight", "-1"], "tv_weight"),
        (["--model.style_loss", "gramm"], "valid: gram"),
        (["--model.content_loss", "l1"], "valid: cosine, mse"),
        (["--model.init", "zeros"], "valid: content"),
        (["--model.pooling", "min"], "valid: max, avg"),
        (["--model.optimizer", "sgd"], "valid: adam, lbfgs"),
        (["--model.lr", "0"], "lr must be > 0"),
        (["--model.size", "100000"], "size=100000"),
        (["--model.stlye_weight", "3"], "did you mean model.style_weight"),
        (["--trainer.max_step", "3"], "did you mean trainer.max_steps"),
        (["--model.weights", "/no/such/vgg.pth"], "does not exist"),
    ],
)
def test_bad_config_values(tmp_path, capsys, extra, message):
    assert train.main(tiny_args(tmp_path, *extra, steps=1)) == 2
    assert message in one_line_error(capsys)


def test_missing_style_says_what_to_give(capsys):
    assert train.main(["--content", str(ASSETS / "home.jpg")]) == 2
    assert "model.style is required" in one_line_error(capsys)


def test_yaml_syntax_error_names_file_and_line(tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("model:\n  size: 64\n  style_layers: [relu1_1\ntrainer:\n  max_steps: 3\n")
    assert train.main(["--config", str(config)]) == 2
    line = one_line_error(capsys)
    assert "broken.yaml" in line and "line 4" in line


def test_unknown_key_in_config_file_suggests_the_closest(tmp_path, capsys):
    config = tmp_path / "typo.yaml"
    config.write_text("model:\n  stlye_weight: 3\n")
    assert train.main(tiny_args(tmp_path, "--config", str(config), steps=1)) == 2
    assert "did you mean model.style_weight" in one_line_error(capsys)


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert train.main(tiny_args(tmp_path, "--output_dir", str(blocker / "outputs"), steps=1)) == 2
    assert "cannot write" in one_line_error(capsys)


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
    common = ["--trainer.deterministic", "true", "--model.style_loss", loss, "--model.style_weight", "30",
              "--checkpoint.every_n_train_steps", "3"]
    straight = run(tiny_args(tmp_path / "a", *common, steps=6)).model.image.detach().clone()
    run(tiny_args(tmp_path / "b", *common, steps=3))
    resumed = run(tiny_args(tmp_path / "b", *common, "--ckpt_path", "last", steps=6))
    assert resumed.trainer.global_step == 6
    assert torch.equal(straight, resumed.model.image.detach())


MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "I;16", "LA", "I", "F"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=2048),
    st.tuples(st.sampled_from(MODES), st.integers(1, 40), st.integers(1, 40),
              st.sampled_from(["PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP"]), st.integers(0, 2**32 - 1)),
))
def test_loader_gives_a_valid_tensor_or_its_own_error(tmp_path, data):
    path = tmp_path / "input.img"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        mode, width, height, fmt, seed = data
        pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
        image = Image.fromarray(pixels, "RGB").convert(mode)
        try:
            image.save(path, format=fmt)
        except (OSError, ValueError, KeyError):
            return  # Pillow cannot write this mode in this format: nothing to load
    try:
        tensor = load_image(path)
    except ImageError as e:
        assert "\n" not in str(e)
        return
    assert tensor.dtype == torch.float32 and tensor.shape[:2] == (1, 3)
    assert torch.isfinite(tensor).all() and 0 <= tensor.min() and tensor.max() <= 1
