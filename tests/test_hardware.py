"""bf16 on a CPU that would emulate it (about 66x slower) falls back to 32-true with a message."""

import torch

import nst.hardware as hardware
from nst.runs.cli import run
from tests.conftest import tiny_args

AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
ZEN4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"
NEOVERSE = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_bf16_instructions_are_read_from_cpuinfo():
    assert not hardware.has_bf16_flag(AVX2)
    assert hardware.has_bf16_flag(ZEN4) and hardware.has_bf16_flag(NEOVERSE)


def test_emulated_bf16_falls_back_to_32_true_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: False)
    cli = run(tiny_args(tmp_path, "--trainer.precision", "bf16-mixed", steps=2))
    assert cli.trainer.precision == "32-true" and cli.model.images[0].dtype == torch.float32
    out = capsys.readouterr().out
    assert "no bf16 instructions" in out and "66x slower" in out and "running 32-true instead" in out


def test_native_bf16_and_other_precisions_are_left_alone(monkeypatch):
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: True)
    assert hardware.usable_precision("bf16-mixed", "cpu") == ("bf16-mixed", None)
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: False)
    assert hardware.usable_precision("32-true", "cpu") == ("32-true", None)
    assert hardware.usable_precision("16-mixed", "cuda") == ("16-mixed", None)
    assert hardware.usable_precision("bf16-mixed", "cpu")[0] == "32-true"


def pre_ampere(monkeypatch):
    """A CUDA GPU without bf16 (a T4 or V100), imitated."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)


def test_bf16_on_a_gpu_without_it_is_16_mixed_but_never_amp_for_lbfgs(monkeypatch):
    """Lightning refuses AMP (a GradScaler) with L-BFGS: a user who asked for bf16 with L-BFGS
    gets 32-true, said in one line; Adam gets 16-mixed."""
    pre_ampere(monkeypatch)
    assert hardware.usable_precision("bf16-mixed", "cuda", "adam")[0] == "16-mixed"
    precision, why = hardware.usable_precision("bf16-mixed", "cuda", "lbfgs")
    assert precision == "32-true" and "L-BFGS" in why and "\n" not in why
    assert hardware.usable_precision("32-true", "cuda", "lbfgs") == ("32-true", None)


def test_16_mixed_asked_for_with_lbfgs_is_one_line_before_any_work(tmp_path, monkeypatch):
    import pytest

    from nst.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # refused before a Trainer touches CUDA
    with pytest.raises(ConfigError, match="16-mixed.*L-BFGS.*Fix: --trainer.precision 32-true"):
        run(tiny_args(tmp_path, "--trainer.precision", "16-mixed", "--model.optimizer", "lbfgs",
                     "--trainer.accelerator", "cuda", steps=1), fit=False)
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("*.png"))


def test_out_of_memory_advice_never_names_the_precision_already_used(tmp_path, monkeypatch):
    import pytest

    from nst.runs.cli import OutOfMemory

    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: True)
    for precision, advice in (("32-true", "--trainer.precision bf16-mixed"),
                              ("bf16-mixed", "--model.activation_checkpointing true")):
        cli = run(tiny_args(tmp_path, "--trainer.precision", precision, steps=1), fit=False)

        def out_of_memory(*args, **kwargs):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        monkeypatch.setattr(cli.trainer, "fit", out_of_memory)
        with pytest.raises(OutOfMemory) as error:
            cli.fit()
        assert advice in str(error.value), str(error.value)
        assert precision not in str(error.value).split("Fix:")[1], str(error.value)


def test_a_plain_command_uses_one_device_and_auto_takes_one_per_pair(tmp_path, monkeypatch):
    """On a machine with several GPUs Lightning's ``devices: auto`` takes all of them, and a
    one-pair run would stop ("1 pair(s) for 4 devices"): the default is one device; ``auto``
    takes as many as there are pairs, up to the GPUs there are."""
    from nst.runs.cli import parse

    assert parse(tiny_args(tmp_path)).config.trainer.devices == 1
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert hardware.resolve_devices("auto", "cuda", pairs=1) == 1
    assert hardware.resolve_devices("auto", "cuda", pairs=3) == 3
    assert hardware.resolve_devices("auto", "cuda", pairs=9) == 4
    assert hardware.resolve_devices(2, "cuda", pairs=9) == 2 and hardware.resolve_devices("auto", "cpu", 9) == "auto"


def test_the_devices_a_run_selects_are_counted_and_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert hardware.selected_devices("auto", "cuda") == [0, 1, 2, 3]
    assert hardware.selected_devices(-1, "cuda") == [0, 1, 2, 3]
    assert hardware.selected_devices(2, "cuda") == [0, 1]
    assert hardware.selected_devices([2, 3], "cuda") == [2, 3]
    assert hardware.selected_devices("1,3", "cuda") == [1, 3]
    assert hardware.selected_devices("2", "cuda") == [0, 1]
    assert hardware.selected_devices("auto", "cpu") == [0] and hardware.selected_devices(2, "cpu") == [0, 1]


def test_cudnn_picks_its_fastest_kernels_where_the_sizes_are_fixed(tmp_path, monkeypatch):
    """An untiled run feeds VGG19 one size per stage: cuDNN's benchmark pays off. Tiles vary in
    size from step to step (the grid moves), where it would search again and again."""
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored after the test
    run(tiny_args(tmp_path, steps=1), fit=False)
    assert torch.backends.cudnn.benchmark is True
    run(tiny_args(tmp_path, "--model.tile_size", "16", steps=1), fit=False)
    assert torch.backends.cudnn.benchmark is False
