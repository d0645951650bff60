"""The cost lab through the real CLI: every loss name runs and falls, sweeps, pictures."""

import json
from pathlib import Path

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nst.cli import run
from nst.losses import CONTENT_LOSSES, STYLE_LOSSES
from nst.visualize import main as visualize_main
from tests.conftest import ASSETS, PROJECT, tiny_args


def events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    acc.Reload()
    return acc


def total_loss(run_dir: Path) -> list[float]:
    return [s.value for s in events(run_dir).Scalars("loss/total")]


@pytest.mark.parametrize("name", sorted(STYLE_LOSSES))
def test_every_style_loss_runs_and_falls(tmp_path, name):
    # a random network (tests) needs larger weights than the calibrated, vgg19-caffe defaults
    weight = {"gram": "1e4", "histogram": "1e4"}.get(name, "30")
    cli = run(tiny_args(tmp_path, "--model.style_loss", name, "--model.style_weight", weight,
                        "--model.init", "content+noise", steps=15))
    total = total_loss(Path(cli.trainer.log_dir))
    assert total[-1] < 0.8 * total[0], total


@pytest.mark.parametrize("name", sorted(CONTENT_LOSSES))
def test_every_content_loss_runs_and_falls(tmp_path, name):
    cli = run(tiny_args(tmp_path, "--model.content_loss", name, "--model.init", "noise",
                        "--model.style_weight", "0", steps=15))
    total = total_loss(Path(cli.trainer.log_dir))
    assert total[-1] < 0.8 * total[0], total


def test_loss_options_from_the_command_line(tmp_path):
    cli = run(tiny_args(tmp_path, "--model.style_loss_options", "{normalization: coursera}", steps=2))
    (layer_losses,) = cli.model.style_loss.losses  # one style image
    assert all(m.normalization == "coursera" for m in layer_losses.losses.values())


def test_eval_metrics_are_logged_and_written(tmp_path):
    cli = run(tiny_args(tmp_path, "--eval_metrics.every_n_steps", "5", steps=10))
    run_dir = Path(cli.trainer.log_dir)
    tags = events(run_dir).Tags()["scalars"]
    for tag in ("eval/gram_distance", "eval/sliced_wasserstein", "eval/ssim_content", "eval/tv"):
        assert tag in tags
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["step"] == 10 and 0 < metrics["eval/ssim_content"] <= 1


def test_sweep_writes_runs_and_a_labelled_contact_sheet(tmp_path):
    sheet = run(tiny_args(tmp_path, "--sweep", "model.style_loss=gram,mean_std",
                          "--sweep=model.seed=0,1", "--model.style_weight", "30", steps=3))
    sweep_dir = tmp_path / "outputs" / "home_starry_night" / "sweep_0"
    assert sheet == sweep_dir / "contact_sheet.png"
    runs = sorted(p.parent.parent.name for p in sweep_dir.glob("*/version_0/final.png"))
    assert runs == ["style_loss=gram,seed=0", "style_loss=gram,seed=1",
                    "style_loss=mean_std,seed=0", "style_loss=mean_std,seed=1"]
    image = Image.open(sheet)
    assert image.width > 4 * 32 and image.height > 24
    assert "contact_sheet" in events(sweep_dir).Tags()["images"]
    again = run(tiny_args(tmp_path, "--sweep", "model.style_weight=1,2", steps=1))
    assert again.parent.name == "sweep_1"  # a second sweep never overwrites the first


def test_feature_map_callback_from_the_shipped_config(tmp_path):
    cli = run(["--config", str(PROJECT / "configs" / "inspect.yaml"),
               *tiny_args(tmp_path, "--trainer.callbacks.init_args.layers", "[relu1_1, relu2_1]", steps=1)])
    tags = events(Path(cli.trainer.log_dir)).Tags()["images"]
    for kind in ("features", "gram"):
        for image in ("content", "style", "generated"):
            assert f"{kind}/relu1_1/{image}" in tags


def test_visualize_command_writes_pngs(tmp_path):
    out = tmp_path / "viz"
    assert visualize_main(["--image", str(ASSETS / "home.jpg"), "--layers", "relu1_1,relu3_1",
                           "--out", str(out), "--weights", "random", "--size", "64", "--top_k", "4"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["home_relu1_1_features.png", "home_relu1_1_gram.png",
                     "home_relu3_1_features.png", "home_relu3_1_gram.png"]
    gram = Image.open(out / "home_relu3_1_gram.png")
    assert gram.size[0] == gram.size[1] >= 256  # 256 channels, one pixel each at least


def test_visualize_rejects_unknown_layer(tmp_path, capsys):
    assert visualize_main(["--image", str(ASSETS / "home.jpg"), "--layers", "relu9_9",
                           "--out", str(tmp_path), "--weights", "random"]) == 2
    assert "unknown VGG19 layer" in capsys.readouterr().err
