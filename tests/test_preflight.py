"""What a run is refused for before it starts (nst.runs.preflight): sizes too small for VGG19's
deepest used layer, a size that cannot fit in memory, more devices than pairs; and a CPU
allocation failure during a run. Each is one line, said once, with no "Resume with"."""

import re

import pytest
import torch
from PIL import Image

import train
from nst.runs.cli import run  # noqa: F401  Lightning's log handlers bind to stderr at import: outside capsys
from nst.objective.network.layers import min_side
from nst.runs.preflight import smallest_long_side
from tests.conftest import ASSETS, tiny_args


def error_lines(capsys) -> tuple[list[str], str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Resume with" not in err, err[-2000:]
    return [line for line in err.splitlines() if line.startswith("error: ")], err


def thin_panorama(tmp_path) -> str:
    path = tmp_path / "panorama.png"
    Image.open(ASSETS / "building.jpg").crop((0, 0, 600, 20)).save(path)
    return str(path)


TOO_SMALL = {  # a knob that sets a size, set too small: the line names the smallest that works
    "strength_reference_size (the fuzz's find)": (["--model.lr", "1e-3", "--model.strength_reference_size", "10"],
                                                  "--model.strength_reference_size 21 or more"),
    "style_size": (["--data.style_size", "16"], "--data.style_size 20 or more"),
    "style_scale": (["--data.size", "64", "--data.style_scale", "0.25"], "--data.style_scale 0.32 or more"),
    "scales": (["--scales", "[16, 32]"], "scales from 21 or more"),
    "model.stages": (["--model.stages", "[16, 32]", "--trainer.max_steps", "2"], "a first stage of 21 px or more"),
    "tile_halo": (["--data.size", "64", "--model.tile_size", "16", "--model.tile_halo", "0"],
                  "--model.tile_halo 16 or more"),
    "pool5 at 24 px": (["--data.size", "24", "--model.style_layers", "[pool5]"], "--data.size 42 or more"),
    "mrf patches": (["--data.size", "20", "--model.style_loss", "mrf"], "--data.size 32 or more"),
}


@pytest.mark.parametrize("case", TOO_SMALL)
def test_sizes_too_small_for_the_network_are_one_line_naming_the_smallest(tmp_path, capsys, case):
    extra, fix = TOO_SMALL[case]
    assert train.main(tiny_args(tmp_path, *extra, steps=1)) == 2
    lines, _ = error_lines(capsys)
    assert len(lines) == 1 and fix in lines[0] and "needs" in lines[0], lines
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("*.png"))


def test_a_thin_panorama_names_the_size_that_works_and_that_size_runs(tmp_path, capsys):
    panorama = thin_panorama(tmp_path)
    assert train.main(tiny_args(tmp_path, "--data.content", panorama, "--data.size", "300", steps=1)) == 2
    lines, _ = error_lines(capsys)
    assert len(lines) == 1 and "300x10 px" in lines[0] and "relu5_1" in lines[0], lines
    smallest = int(re.search(r"Fix: --data.size (\d+) or more", lines[0]).group(1))
    assert smallest == 465
    args = ["--data.content", panorama, "--eval_metrics.enabled", "false"]
    assert train.main(tiny_args(tmp_path, *args, "--data.size", str(smallest - 1), steps=1)) == 2
    capsys.readouterr()
    assert train.main(tiny_args(tmp_path, *args, "--data.size", str(smallest), steps=1)) == 0


def test_shallow_layers_need_less():
    assert min_side(["relu1_1"]) == (1, "relu1_1")
    assert min_side(["relu1_1", "relu5_1", "relu4_2"]) == (16, "relu5_1")
    assert min_side(["pool5"]) == (32, "pool5")
    assert min_side(["relu3_1", "relu4_1"], patch=3) == (24, "relu4_1")
    assert smallest_long_side((20, 600), 16) == 465 and smallest_long_side((600, 800), 16) == 21


def test_the_smallest_size_named_runs(tmp_path, capsys):
    assert train.main(tiny_args(tmp_path, "--model.strength_reference_size", "21", steps=1)) == 0
    assert train.main(tiny_args(tmp_path, "--model.strength_reference_size", "20", steps=1)) == 2


def test_a_size_that_cannot_fit_is_refused_before_loading_anything(tmp_path, capsys, monkeypatch):
    """--data.size 12000 on a 24 GiB CPU machine: one line with the size that fits and tiling."""
    import nst.inputs.memory
    import nst.inputs.pair

    monkeypatch.setattr(nst.inputs.memory, "free_memory", lambda device: 24 << 30)

    def no_loading(*args, **kwargs):
        raise AssertionError("an image was loaded before the memory check")

    monkeypatch.setattr(nst.inputs.pair, "load_image", no_loading)
    assert train.main(tiny_args(tmp_path, "--data.size", "12000", steps=1)) == 2
    lines, _ = error_lines(capsys)
    assert len(lines) == 1 and "data.size 12000 needs about" in lines[0], lines
    fits = int(re.search(r"Fix: --data.size (\d+) \(the largest that fits\)", lines[0]).group(1))
    assert 2000 < fits < 12000 and "--model.tile_size auto" in lines[0]


def test_a_cpu_allocation_failure_is_one_line_without_resume(tmp_path, capsys, monkeypatch):
    from nst.model.module import NeuralStyleTransfer

    def allocate(self, *args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 29411328000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(NeuralStyleTransfer, "training_step", allocate)
    assert train.main(tiny_args(tmp_path, steps=2)) == 2
    lines, err = error_lines(capsys)
    assert len(lines) == 1 and "out of" in lines[0] and "memory" in lines[0] and "Fix: --data.size 23" in lines[0], lines


def test_more_devices_than_pairs_is_said_once_before_devices_start(tmp_path, capsys, monkeypatch):
    from lightning.pytorch import Trainer

    def no_fit(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(Trainer, "fit", no_fit)
    args = tiny_args(tmp_path, "--trainer.devices", "2", "--trainer.strategy", "ddp", steps=1)
    assert train.main(args) == 2
    lines, _ = error_lines(capsys)
    assert lines == ["error: 1 pair(s) for 2 devices: every device needs at least one. Fix: --trainer.devices 1 "
                     "or more pairs"]


def test_wrong_weights_with_two_devices_are_said_once_before_devices_start(tmp_path, capsys, monkeypatch, styles):
    from lightning.pytorch import Trainer

    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("the run started"))
    args = tiny_args(tmp_path, "--data.style", str(styles), "--trainer.devices", "2", "--trainer.strategy", "ddp",
                     "--model.weights", str(tmp_path / "no_such_weights.safetensors"), steps=1)
    assert train.main(args) == 2
    lines, _ = error_lines(capsys)
    assert len(lines) == 1 and "no_such_weights" in lines[0], lines
