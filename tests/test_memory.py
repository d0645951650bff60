"""size: auto picks the largest size that fits the free memory, never above the photo's."""

from __future__ import annotations

import pytest
from conftest import tiny_args

from nst.inputs import memory
from nst.runs.cli import run
from nst.errors import ConfigError


def test_auto_size_follows_free_memory_and_stops_at_the_photo(monkeypatch):
    per_pixel = memory.BYTES_PER_PIXEL[(False, False)]
    budget_pixels = 1_000_000
    free = (budget_pixels * per_pixel + memory.RESERVE) / memory.SAFETY
    monkeypatch.setattr(memory, "free_memory", lambda device: free)
    size, why = memory.auto_size((3000, 4000), 1, "cpu", "32-true", False)
    assert size == int((budget_pixels * 4 / 3) ** 0.5)  # 4:3 photo, 1 MP -> 1154 px long side
    assert "GiB free on cpu" in why and "largest that fits" in why
    two, _ = memory.auto_size((3000, 4000), 2, "cpu", "32-true", False)
    assert abs(two / size - 2 ** -0.5) < 0.01  # two images share the memory
    lean, _ = memory.auto_size((3000, 4000), 1, "cpu", "bf16-mixed", True)
    assert lean > size  # checkpointing and bf16 fit more pixels
    small, why = memory.auto_size((300, 400), 1, "cpu", "32-true", False)
    assert small == 400 and "the photo is 400 px" in why
    monkeypatch.setattr(memory, "free_memory", lambda device: memory.RESERVE)
    with pytest.raises(ConfigError, match="too little"):
        memory.auto_size((3000, 4000), 1, "cpu", "32-true", False)


def test_size_auto_on_the_command_line(tmp_path, monkeypatch, capsys):
    per_pixel = memory.BYTES_PER_PIXEL[(False, False)]
    free = ((96 * 72 + 50) * per_pixel + memory.RESERVE) / memory.SAFETY  # room for 96x72
    monkeypatch.setattr(memory, "free_memory", lambda device: free)
    cli = run(tiny_args(tmp_path, "--model.size", "auto", steps=1), fit=False)
    assert cli.config.data.size == cli.datamodule.options.size == 96  # home.jpg is 4:3
    assert "size auto -> 96 px" in capsys.readouterr().out


def test_free_cuda_memory_is_read_on_the_selected_gpu_with_pytorchs_cache(monkeypatch):
    """``mem_get_info`` counts the blocks PyTorch's allocator keeps cached as used; they are
    free for this run. Each GPU is read by its own index."""
    import torch

    free = {0: 1 << 30, 2: 5 << 30}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free[torch.device(device).index], 80 << 30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 3 << 30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 1 << 30)
    assert memory.free_memory("cuda:2") == (5 << 30) + (2 << 30)
    assert memory.free_memory("cuda:0") == (1 << 30) + (2 << 30)


@pytest.mark.parametrize("devices, nodes, world, gpu", [("auto", 1, 4, "cuda:1"), ([2, 3], 1, 2, "cuda:2"),
                                                        ("0,3", 2, 4, "cuda:0"), (1, 1, 1, "cuda:0")])
def test_size_auto_counts_the_devices_and_reads_the_tightest_selected_gpu(tmp_path, monkeypatch, devices, nodes,
                                                                          world, gpu):
    import torch

    from nst.runs import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(memory, "free_memory", lambda device: {"cuda:1": 1 << 30}.get(device, 2 << 30))
    seen = {}
    monkeypatch.setattr(memory, "resolve_auto_size", lambda content, pairs, world, accelerator, *rest:
                        seen.update(world=world, accelerator=accelerator) or 256)
    config = cli.parse(tiny_args(tmp_path, "--data.size", "auto", "--trainer.accelerator", "cuda")).config
    config.trainer.devices, config.trainer.num_nodes = devices, nodes
    cli.resolve_auto_size(config)
    assert seen == {"world": world, "accelerator": gpu} and config.data.size == 256
