"""A multi-device run on GPUs: DDP over NCCL with a process-group timeout sized for this workload.

NCCL's default is 30 minutes, after which its watchdog aborts the process with a C++ trace: a
device whose peer stopped (its one-line error printed) would wait that long. Here the devices meet
in a collective every ``run_guard.check_every_n_steps`` steps (and at checkpoints), a fraction of a
minute apart on a GPU, so NCCL_TIMEOUT leaves room for a slow device, a checkpoint write or the
first run's weight download, and no more. Blocking wait turns the timeout into a Python error in
the waiting device, which ``nst.runs.main`` says in one line. On CPUs (gloo) Lightning's own
strategy stays: a peer's exit closes its connection at once, and a CPU step can take minutes.
"""

from __future__ import annotations

import os
from datetime import timedelta

from nst.hardware import resolve_accelerator, selected_devices

NCCL_TIMEOUT = timedelta(minutes=5)


def ddp_strategy(strategy, accelerator: str, devices, num_nodes: int):
    """``strategy`` as given, or, for DDP on several GPUs (``ddp``, or ``auto`` with more than
    one device), Lightning's ``DDPStrategy`` with ``NCCL_TIMEOUT`` and blocking wait."""
    if resolve_accelerator(accelerator) != "cuda" or strategy not in ("ddp", "auto"):
        return strategy
    if strategy == "auto" and len(selected_devices(devices, accelerator)) * (num_nodes or 1) < 2:
        return strategy
    from lightning.pytorch.strategies import DDPStrategy

    os.environ.setdefault("TORCH_NCCL_BLOCKING_WAIT", "1")  # before the process group; children inherit it
    return DDPStrategy(timeout=NCCL_TIMEOUT)
