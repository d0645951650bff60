"""What this machine can do: which device ``auto`` means, which devices a run selects, and whether the CPU computes bf16
natively (AVX512-BF16, AMX or Arm's BF16) or would emulate it."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from nst.errors import ConfigError

# bench/run.py on one 2-core AVX2 machine: 35 s per step in bf16-mixed against 0.53 s in 32-true
# at 192 px; on Zen 4 (AVX512-BF16) bf16-mixed is 1.8x faster than 32-true at 512 px.
EMULATED_BF16_SLOWDOWN = 66
NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 (two kinds), Arm


def resolve_accelerator(accelerator: str) -> str:
    if accelerator in ("auto", "gpu"):
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    return accelerator


def selected_devices(devices, accelerator: str) -> list[int]:
    """The device indices Lightning's ``trainer.devices`` selects on ``accelerator``: ``auto``
    or -1 all GPUs (one process on a CPU), ``n`` the first n, a list or ``"1,3"`` those."""
    device = resolve_accelerator(accelerator)
    available = torch.cuda.device_count() if device == "cuda" else 1
    if isinstance(devices, str):
        text = devices.strip()
        if text == "auto":
            return list(range(available))
        devices = [int(i) for i in text.split(",") if i.strip()] if "," in text else int(text)
    if isinstance(devices, int):
        return list(range(available if devices == -1 else devices))
    return [int(i) for i in devices]


def resolve_devices(devices, accelerator: str, pairs: int):
    """``devices: auto`` on GPUs: one per pair, up to the GPUs there are (Lightning's ``auto``
    takes them all, and a run of fewer pairs than devices is refused); else as given."""
    if devices != "auto" or resolve_accelerator(accelerator) != "cuda":
        return devices
    return max(1, min(torch.cuda.device_count(), pairs))


@functools.cache
def native_bf16_cpu() -> bool:
    """The CPU has bf16 instructions (``/proc/cpuinfo`` flags). Where that cannot be read
    (not Linux), assume it does: only a known lack changes anything."""
    try:
        return has_bf16_flag(Path("/proc/cpuinfo").read_text())
    except OSError:
        return True


def has_bf16_flag(cpuinfo: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists a bf16 instruction set."""
    flags = set()
    for line in cpuinfo.splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & NATIVE_BF16_FLAGS)


def usable_precision(precision: str, accelerator: str, optimizer: str = "adam") -> tuple[str, str | None]:
    """(precision to run, a line saying why if it differs): bf16 on a CPU that would emulate it
    falls back to 32-true, which gives the same picture (docs/performance/benchmarks.md) without the slowdown;
    on a GPU without bf16, to 16-mixed, or to 32-true for L-BFGS, which Lightning's fp16
    gradient scaling cannot step (16-mixed asked for with L-BFGS is refused in one line)."""
    device = resolve_accelerator(accelerator)
    fp16 = str(precision) in ("16", "16-mixed", "16-true")
    if fp16 and optimizer == "lbfgs" and device != "cpu":  # on a CPU Lightning runs 16-mixed as bf16
        raise ConfigError(f"precision {precision} with L-BFGS: Lightning's fp16 gradient scaling cannot step "
                          "L-BFGS. Fix: --trainer.precision 32-true, or --model.optimizer adam")
    if "bf16" in str(precision) and device == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        if optimizer == "lbfgs":
            return "32-true", (f"nst: this GPU has no bf16 (before Ampere), and L-BFGS cannot run under 16-mixed's "
                               f"gradient scaling; running 32-true instead of {precision}")
        return "16-mixed", (f"nst: this GPU has no bf16 (before Ampere); running 16-mixed instead of {precision}")
    if "bf16" not in str(precision) or device != "cpu" or native_bf16_cpu():
        return precision, None
    return "32-true", (
        f"nst: this CPU has no bf16 instructions (no AVX512-BF16, AMX or Arm BF16), so {precision} would be "
        f"emulated, about {EMULATED_BF16_SLOWDOWN}x slower per step (measured); running 32-true instead, "
        "which looks the same. Use bf16 on a CPU or GPU that has it")
