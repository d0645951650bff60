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
