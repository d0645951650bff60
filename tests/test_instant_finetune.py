"""Fine-tuning the instant network to one painting (``--model.network instant``): step 0 paints
the instant picture, a short training lowers the loss from there, and the checkpoint is a style
like the others (applied without the pretrained weights, resumed, exported to ONNX)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

import nst
import train
from nst.errors import ConfigError
from nst.media.images import load_image
from nst.realtime.apply import load_style
from nst.realtime.instant.folded import InstantNet
from nst.realtime.instant.style import style_vector
from nst.realtime.instant.weights import load_networks
from nst.realtime.module import FastStyleTransfer
from nst.realtime.photos import PhotoDataModule
from tests.conftest import PROJECT
from tests.test_realtime import folder  # noqa: F401 - the photos and the painting

PAINTING = PROJECT / "assets" / "starry_night.jpg"


def make_model(train_params: str, **options) -> FastStyleTransfer:
    lr = 1e-2 if train_params == "norm" else 1e-3  # every weight: a smaller step keeps the pretrained network
    return FastStyleTransfer(style=str(PAINTING), style_size=64, network="instant", train_params=train_params,
                             weights="random", style_weight=1e4, lr=lr, **options)  # (a random VGG's Gram is tiny)


def objective(model: FastStyleTransfer, photos: torch.Tensor) -> float:
    with torch.no_grad():
        return float(model.losses(photos)[1]["total"])


def test_step_zero_paints_the_instant_picture():
    predictor, transformer = load_networks()
    vector = style_vector(predictor, load_image(PAINTING))
    model = make_model("norm")
    model.configure_model()
    photo = torch.rand(2, 3, 37, 53)  # not a multiple of 4
    with torch.no_grad():
        expected = transformer(photo, vector.expand(2, -1))
        assert (model(photo) - expected).abs().max() < 1e-5  # measured ~1e-6
        assert (InstantNet().fold(transformer, vector)(photo) - expected).abs().max() < 1e-5


def test_norm_trains_gamma_and_beta_alone_and_only_the_instant_network_has_them():
    model = make_model("norm")
    trained = {n for n, p in model.network.named_parameters() if p.requires_grad}
    assert trained and all(".norm." in n for n in trained)
    assert len(trained) == 2 * len(model.network.norms()) == 2 * 13  # 10 residual + 3 expand norms
    with pytest.raises(ConfigError, match="Fix: --model.network instant"):
        FastStyleTransfer(style=str(PAINTING), network="small", train_params="norm", weights="random")
    with pytest.raises(ConfigError, match="Fix: --model.from_photo false"):
        FastStyleTransfer(style=str(PAINTING), network="instant", from_photo=True, weights="random")


def fit(model, folder, out, steps: int, ckpt_path=None) -> Trainer:  # noqa: F811 - the fixture's name
    trainer = Trainer(max_steps=steps, accelerator="cpu", precision="32-true", logger=False, enable_progress_bar=False,
                      enable_model_summary=False, val_check_interval=100, check_val_every_n_epoch=None,
                      callbacks=[ModelCheckpoint(dirpath=out, filename="last", every_n_train_steps=steps)])
    trainer.fit(model, datamodule=PhotoDataModule(str(folder["photos"]), size=32, batch_size=1, val_photos=2),
                ckpt_path=ckpt_path)
    return trainer


@pytest.fixture(scope="module", params=["norm", "all"])
def tuned(request, folder, tmp_path_factory):  # noqa: F811 - the fixture's name
    """A few steps of fine-tuning on 32 px crops, one photo a step as the CPU recipe; the objective on two fixed
    photos before and after."""
    seed_everything(0)
    model = make_model(request.param)
    model.configure_model()
    photos = torch.stack([load_image(folder["photos"] / f"p{i}.jpg")[0, :, :32, :32] for i in (3, 4)])
    pretrained = {k: v.clone() for k, v in model.network.state_dict().items()}
    before = objective(model, photos)
    out = tmp_path_factory.mktemp(f"tuned_{request.param}")
    fit(model, folder, out, 16)
    return {"model": model.cpu(), "before": before, "after": objective(model, photos), "ckpt": out / "last.ckpt",
            "pretrained": pretrained, "train_params": request.param}


def test_a_short_training_lowers_the_loss_from_the_instant_picture(tuned):
    assert np.isfinite(tuned["after"]) and tuned["after"] < 0.9 * tuned["before"], (tuned["before"], tuned["after"])
    state = tuned["model"].network.state_dict()
    moved = {k for k, v in state.items() if not torch.equal(v, tuned["pretrained"][k])}
    if tuned["train_params"] == "norm":
        assert moved and all(".norm." in k for k in moved)  # the convolutions are the pretrained ones
    else:
        assert any(".conv." in k or k.startswith("contract.") for k in moved)


def test_the_checkpoint_applies_without_the_pretrained_weights(tuned, folder, tmp_path, monkeypatch):  # noqa: F811
    import nst.realtime.instant.weights as weights

    checkpoint = torch.load(tuned["ckpt"], weights_only=True)
    assert checkpoint["nst_realtime"]["network"] == "instant" and checkpoint["nst_realtime"]["format"] == 1
    monkeypatch.setattr(weights, "load_networks", lambda *a: pytest.fail("applying read the pretrained weights"))
    style = load_style(tuned["ckpt"])
    photo = torch.rand(1, 3, 40, 52)
    with torch.no_grad():
        expected = tuned["model"](photo)
    assert (style(photo, return_tensor=True) - expected).abs().max() < 1e-5
    assert (nst.stylize(photo, model=str(tuned["ckpt"]), return_tensor=True) - expected).abs().max() < 1e-5
    assert train.main(["stylize", "--model", str(tuned["ckpt"]), "--input", str(folder["photos"] / "p3.jpg"),
                       "--output", str(tmp_path), "--size", "40"]) == 0
    assert (tmp_path / "p3.png").is_file() and style.metadata["nst:network"] == "instant"


def test_the_checkpoint_exports_to_onnx_as_pytorch_paints(tuned, tmp_path):
    import onnxruntime

    assert train.main(["export", "--model", str(tuned["ckpt"]), "--output", str(tmp_path / "s.onnx")]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    network = load_style(tuned["ckpt"]).network
    for h, w in ((37, 53), (64, 96)):
        photo = torch.rand(1, 3, h, w)
        with torch.no_grad():
            expected = network(photo).numpy()
        assert np.abs(session.run(None, {"photo": photo.numpy()})[0] - expected).max() < 1e-4
    assert load_style(tmp_path / "s.onnx").record["network"] == "instant"


def test_a_run_resumes_from_its_checkpoint(tuned, folder, tmp_path):  # noqa: F811
    model = make_model(tuned["train_params"])
    trainer = fit(model, folder, tmp_path, 20, ckpt_path=str(tuned["ckpt"]))
    assert trainer.global_step == 20


def test_the_cpu_config_trains_in_one_command(folder, tmp_path):  # noqa: F811
    args = ["--config", str(PROJECT / "configs" / "fast_instant_cpu.yaml"), "--data.photos", str(folder["photos"]),
            "--model.weights", "random", "--data.size", "32", "--data.batch_size", "2", "--model.style_size", "64",
            "--trainer.max_steps", "2", "--trainer.accelerator", "cpu", "--trainer.precision", "32-true",
            "--output_dir", str(tmp_path)]
    assert train.main(args) == 0
    checkpoint = tmp_path / "fast_instant_cpu" / "version_0" / "checkpoints" / "last.ckpt"
    assert load_style(checkpoint).record["network"] == "instant"
