"""Runs as data: sweeps and coarse-to-fine stages as a plan, carried out by one loop."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nst.runs.cli import canonical_args, parse, run
from nst.errors import ConfigError
from nst.media.images import load_image, resize
from nst.runs.plan import build_plan
from tests.conftest import tiny_args


def test_a_plain_run_is_one_variant_of_one_stage(tmp_path):
    args = tiny_args(tmp_path)
    plan = build_plan(args, parse)
    assert plan.sweep_dir is None and len(plan.variants) == 1
    assert plan.variants[0].stages == (tuple(args),) and plan.variants[0].chain_dir is None


def last_value(args: tuple[str, ...], key: str) -> str:
    """The value the parser keeps: the last one given."""
    return args[len(args) - 1 - args[::-1].index(key) + 1]


def test_a_sweep_of_chains_is_data_before_anything_runs(tmp_path):
    args = canonical_args(tiny_args(tmp_path, "--sweep", "model.style_weight=1,2", "--scales", "[24, 32]",
                                    "--steps_per_scale", "[3, 2]"))
    plan = build_plan(args, parse)
    root = tmp_path / "outputs" / "home_starry_night"
    assert plan.sweep_dir == root / "sweep_0" and [v.label for v in plan.variants] == ["style_weight=1", "style_weight=2"]
    first = plan.variants[0]
    assert first.chain_dir == root / "sweep_0" / "style_weight=1" / "multiscale_0"
    assert [last_value(s, "--data.size") for s in first.stages] == ["24", "32"]
    assert [last_value(s, "--trainer.max_steps") for s in first.stages] == ["3", "2"]
    assert not (tmp_path / "outputs").exists() or not any(root.rglob("*.png"))  # nothing ran


def test_multiscale_starts_each_scale_from_the_last(tmp_path):
    result = run(tiny_args(tmp_path, "--scales", "[32, 48]", "--steps_per_scale", "[4, 2]"))
    group = tmp_path / "outputs" / "home_starry_night" / "multiscale_0"
    assert result == group / "final.png"
    small, large = group / "scale_32" / "version_0", group / "scale_48" / "version_0"
    start = load_image(large / "step_00000.png")
    assert start.shape[-2:] == (36, 48)
    upsampled = resize(load_image(small / "final.png"), (36, 48))
    assert (start - upsampled).abs().max() <= 1.5 / 255  # the last scale's result, upsampled
    for folder, steps in ((small, 4), (large, 2)):
        ckpt = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["global_step"] == steps
    assert torch.equal(load_image(group / "final.png"), load_image(large / "final.png"))


def test_bad_scales(tmp_path):
    with pytest.raises(ConfigError, match="increasing"):
        run(tiny_args(tmp_path, "--scales", "[64, 32]"))
    with pytest.raises(ConfigError, match="one positive step count per scale"):
        run(tiny_args(tmp_path, "--scales", "[32, 64]", "--steps_per_scale", "[3]"))


def events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    acc.Reload()
    return acc


def test_sweep_writes_runs_and_a_labelled_contact_sheet(tmp_path):
    sheet = run(tiny_args(tmp_path, "--sweep", "model.style_loss=gram,mean_std",
                          "--sweep=model.seed=0,1", "--model.style_weight", "30", steps=3))
    sweep_dir = tmp_path / "outputs" / "home_starry_night" / "sweep_0"
    assert sheet == sweep_dir / "contact_sheet.png"
    runs = sorted(p.parent.parent.name for p in sweep_dir.glob("*/version_0/final.png"))
    assert runs == ["style_loss=gram,seed=0", "style_loss=gram,seed=1",  # model.seed: an alias of data.seed
                    "style_loss=mean_std,seed=0", "style_loss=mean_std,seed=1"]
    image = Image.open(sheet)
    assert image.width > 4 * 32 and image.height > 24
    assert "contact_sheet" in events(sweep_dir).Tags()["images"]
    again = run(tiny_args(tmp_path, "--sweep", "model.style_weight=1,2", steps=1))
    assert again.parent.name == "sweep_1"  # a second sweep never overwrites the first


def test_a_sweep_over_chains_shows_each_chains_result(tmp_path):
    sheet = run(tiny_args(tmp_path, "--sweep", "model.style_weight=1,100", "--scales", "[24, 32]",
                          "--steps_per_scale", "[2, 2]"))
    sweep_dir = sheet.parent
    finals = sorted(sweep_dir.glob("*/multiscale_0/final.png"))
    assert [p.parent.parent.name for p in finals] == ["style_weight=1", "style_weight=100"]
    assert Image.open(sheet).width > 2 * 32


def test_a_sweep_releases_each_finished_run_before_the_next(tmp_path, monkeypatch):
    """A finished variant's model, trainer and tensors must not stay on the GPU while the next
    runs (its size: auto would see less memory): only the paths are kept, and the allocator's
    cache is emptied."""
    import gc
    import weakref

    from nst.runs import plan as plan_module

    class FittedCLI:  # what fit returns: a CLI holding a trainer (and through it, tensors)
        def __init__(self, folder):
            self.trainer = type("T", (), {"log_dir": str(folder)})()
            self.config = SimpleNamespace(image_saver=SimpleNamespace(format="png"), timelapse=None)
            self.tensor = torch.zeros(1000)

    alive, emptied = [], []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(len(emptied)))

    def fit(args):
        gc.collect()
        assert all(ref() is None for ref in alive), "an earlier variant's CLI is still held"
        folder = tmp_path / f"run{len(alive)}"
        folder.mkdir()
        Image.new("RGB", (8, 8)).save(folder / "final.png")
        cli = FittedCLI(folder)
        alive.append(weakref.ref(cli))
        return cli

    variants = tuple(plan_module.Variant(f"v{i}", (("--x",),)) for i in range(3))
    monkeypatch.setattr(plan_module, "write_contact_sheet", lambda folder, results: [r[2] for r in results])
    folders = plan_module.execute(plan_module.Plan(variants, tmp_path / "sweep"), fit)
    assert folders == [tmp_path / f"run{i}" for i in range(3)] and len(emptied) >= 2
