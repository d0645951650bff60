"""End-to-end runs through the real CLI and Trainer, on tiny images with a random network."""

import math
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from nst.cli import run
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


def test_resume_from_last_checkpoint_continues_the_run(tmp_path):
    first = run(tiny_args(tmp_path, "--checkpoint.every_n_train_steps", "5", steps=5))
    resumed = run(tiny_args(tmp_path, "--ckpt_path", "last", steps=8))
    assert resumed.trainer.global_step == 8
    assert resumed.trainer.log_dir == first.trainer.log_dir


def test_lbfgs_converges_like_a_plain_loop(tmp_path):
    """Lightning's closure must zero the gradients: compare against a hand-written L-BFGS loop."""
    args = tiny_args(tmp_path, "--model.optimizer", "lbfgs", "--model.lbfgs_max_iter", "5",
                     "--model.init", "content+noise", steps=4)
    cli = run(args)
    lightning_image = cli.model.image.detach().clone()
    total = scalars(Path(cli.trainer.log_dir), "loss/total")
    assert total[-1] < 0.2 * total[0]

    model = cli.model
    with torch.no_grad():
        model.image.copy_(model.initial_image())
    opt = model.configure_optimizers()
    for _ in range(4):
        def closure():
            opt.zero_grad()
            loss = model()["total"]
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            model.image.clamp_(0, 1)
    torch.testing.assert_close(lightning_image, model.image.detach(), rtol=1e-4, atol=1e-4)


def test_bf16_mixed_on_cpu_gives_finite_falling_losses(tmp_path):
    cli = run(tiny_args(tmp_path, "--trainer.precision", "bf16-mixed", steps=10))
    total = scalars(Path(cli.trainer.log_dir), "loss/total")
    assert all(math.isfinite(v) for v in total) and total[-1] < total[0]
    assert cli.model.image.dtype == torch.float32


@pytest.mark.parametrize("init", ["noise", "content+noise", "style", str(PROJECT / "assets" / "fruits.jpg")])
def test_inits(tmp_path, init):
    cli = run(tiny_args(tmp_path, "--model.init", init, steps=1))
    image = cli.model.initial_image()
    content = cli.model.pair.content
    assert image.shape == content.shape and 0 <= image.min() and image.max() <= 1
    assert not torch.equal(image, content)


def test_noise_init_is_reproducible_from_the_seed(tmp_path):
    a = run(tiny_args(tmp_path, "--model.init", "noise", steps=1)).model.initial_image()
    b = run(tiny_args(tmp_path, "--model.init", "noise", steps=1)).model.initial_image()
    c = run(tiny_args(tmp_path, "--model.init", "noise", "--model.seed", "1", steps=1)).model.initial_image()
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_layer_weights_from_config_mapping(tmp_path):
    config = tmp_path / "layers.yaml"
    config.write_text(yaml.safe_dump({"model": {
        "style_layers": {"relu1_1": 0.5, "relu2_1": 0.5},
        "content_layers": [["relu3_1", 1.0]],
    }}))
    cli = run(tiny_args(tmp_path, "--config", str(config), steps=2))
    assert cli.model.style_layer_weights == {"relu1_1": 0.5, "relu2_1": 0.5}
    assert cli.model.vgg.deepest_layer == "relu3_1"  # truncated after the deepest needed layer
    assert Path(cli.trainer.log_dir).parent.name == "layers"  # run named after the config


def test_bare_config_name_resolves_to_configs_folder():
    assert train.resolve_config("starry.yaml") == str(PROJECT / "configs" / "starry.yaml")
    assert train.resolve_config("starry") == str(PROJECT / "configs" / "starry.yaml")
    assert train.rewrite_argv(["--content", "a.jpg", "--style=b.jpg", "--config", "starry"]) == [
        "--model.content", "a.jpg", "--model.style=b.jpg", "--config", str(PROJECT / "configs" / "starry.yaml"),
    ]


def test_config_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # far from the project: ../assets only resolves via configs/
    args = ["--config", "starry", "--model.weights", "random", "--model.size", "32",
            "--trainer.max_steps", "1", "--trainer.enable_progress_bar", "false"]
    assert train.main(args) == 0
    assert (tmp_path / "outputs" / "starry" / "version_0" / "final.png").is_file()


def test_shipped_configs_parse(capsys):
    for config in sorted((PROJECT / "configs").glob("*.yaml")):
        with pytest.raises(SystemExit) as e:
            train.main(["--config", str(config), "--print_config"])
        assert e.value.code == 0
        printed = yaml.safe_load(capsys.readouterr().out)
        assert (printed["model"]["content"] or printed["model"]["pairs"]) and printed["trainer"]["max_steps"] > 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model.content", "/no/such/photo.jpg"], "does not exist"),
        (["--model.style_layers", "[relu9_1]"], "unknown VGG19 layer"),
        (["--model.optimizer", "sgd"], "unknown optimizer"),
        (["--model.style_weight", "-1"], "style_weight"),
        (["--model.weights", "vgg16"], "unknown weights"),
        pytest.param(["--trainer.accelerator", "cuda"], "CUDA", marks=pytest.mark.skipif(
            torch.cuda.is_available(), reason="this machine has CUDA")),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    assert train.main(tiny_args(tmp_path, *extra, steps=1)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
