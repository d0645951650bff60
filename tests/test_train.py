"""End-to-end runs through train.py's own path (CLI, Trainer, callbacks) on tiny images with a
random network: files, TensorBoard, versions, resumption, config names."""

import math
from pathlib import Path

import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from nst.runs.cli import run
from tests.conftest import PROJECT, tiny_args


def scalars(run_dir: Path, tag: str) -> list[float]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [s.value for s in events.Scalars(tag)]


def test_end_to_end_loss_falls_and_files_appear(tmp_path):
    cli = run(tiny_args(tmp_path, "--image_saver.every_n_steps", "10", steps=30))
    run_dir = Path(cli.trainer.log_dir)
    assert run_dir == tmp_path / "outputs" / "home_starry_night" / "version_0"
    for name in ("final.png", "step_00000.png", "step_00010.png", "step_00020.png", "step_00030.png",
                 "checkpoints/last.ckpt", "config.yaml"):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("events.out.tfevents.*"))
    total = scalars(run_dir, "loss/total")
    assert len(total) >= 20 and all(math.isfinite(v) for v in total)
    assert total[-1] < 0.5 * total[0]
    for tag in ("loss/content", "loss/style", "loss/tv"):
        assert scalars(run_dir, tag)
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert "epoch" not in events.Tags()["scalars"]  # a constant: the losses come first
    final = Image.open(run_dir / "final.png")
    assert final.size == (32, 24)  # home.jpg is 512x384
    assert "nst:config" in final.text and len(final.text["nst:config_sha256"]) == 64
    # the image is the only trainable parameter, and the checkpoint carries no VGG weights
    model = cli.model
    assert [name for name, p in model.named_parameters() if p.requires_grad] == ["images.0"]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert set(ckpt["state_dict"]) == {"images.0"}


def test_a_second_run_never_overwrites_the_first(tmp_path):
    first = run(tiny_args(tmp_path, steps=2))
    second = run(tiny_args(tmp_path, steps=2))
    assert Path(first.trainer.log_dir).name == "version_0"
    assert Path(second.trainer.log_dir).name == "version_1"


def test_two_runs_starting_at_once_claim_different_versions(tmp_path):
    """Both look before either has written a file: the version folder is claimed by mkdir."""
    from nst.runs.outputs import RunLogger

    first, second = (RunLogger(str(tmp_path), name="same") for _ in range(2))
    assert (first.version, second.version) == (0, 1)
    assert sorted(p.name for p in (tmp_path / "same").iterdir()) == ["version_0", "version_1"]


def test_resume_from_last_checkpoint_continues_the_run(tmp_path):
    first = run(tiny_args(tmp_path, "--checkpoint.every_n_train_steps", "5", steps=5))
    resumed = run(tiny_args(tmp_path, "--ckpt_path", "last", steps=8))
    assert resumed.trainer.global_step == 8
    assert resumed.trainer.log_dir == first.trainer.log_dir


def test_bare_config_name_resolves_to_configs_folder():
    assert train.resolve_config("starry.yaml") == str(PROJECT / "configs" / "starry.yaml")
    assert train.resolve_config("starry") == str(PROJECT / "configs" / "starry.yaml")
    assert train.rewrite_argv(["--content", "a.jpg", "--style=b.jpg", "--config", "starry"]) == [
        "--data.content", "a.jpg", "--data.style=b.jpg", "--config", str(PROJECT / "configs" / "starry.yaml"),
    ]
