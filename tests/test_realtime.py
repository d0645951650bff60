"""Real-time styles (nst.realtime): the network keeps any size, training on a folder of photos
lowers the loss and moves the pictures toward the painting, a folder is stylised resumably
through Lightning's predict loop, the export matches PyTorch, bad input is one line.

All on tiny generated images with a random VGG19 (random on purpose: see tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import Timer
from PIL import Image

import nst
import train
from nst.objective.losses.sliced import SlicedWassersteinLoss
from nst.realtime.apply import StyleCheckpointError, load_style
from nst.realtime.module import FastStyleTransfer
from nst.realtime.network import TransformerNet
from nst.realtime.photos import PhotoDataModule
from nst.realtime.predict import stylize_folder
from tests.test_cli import one_line_error


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> dict[str, Path]:
    """Eight 64 px photos of soft greyish gradients and noise (one in a subfolder, one 16-bit PNG
    and one with an EXIF rotation), one corrupt file, and a saturated red-blue 'painting'."""
    root = tmp_path_factory.mktemp("realtime")
    photos = root / "photos"
    (photos / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(8):
        ramp = np.linspace(80, 170, 64)[None, :, None] * np.ones((64, 1, 3))
        array = np.clip(ramp + rng.normal(0, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
        target = photos / ("sub" if i == 0 else "") / f"p{i}.jpg"
        image = Image.fromarray(array)
        if i == 1:
            exif = Image.Exif()
            exif[0x0112] = 6  # rotated a quarter turn
            image.save(target, exif=exif)
        elif i == 2:
            Image.fromarray((array[..., 0].astype(np.uint16) * 257)).save(target.with_suffix(".png"))
        else:
            image.save(target)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, :, 0] = 255 * (np.arange(64)[None, :] // 4 % 2)
    stripes[:, :, 2] = 255 - stripes[:, :, 0]
    Image.fromarray(stripes).save(root / "painting.png")
    return {"photos": photos, "painting": root / "painting.png", "root": root}


@pytest.mark.parametrize("variant,edge", [("johnson", 9), ("small", 9), ("fast", 5)])
def test_network_keeps_any_size_in_unit_range(variant, edge):
    network = TransformerNet(variant)
    assert network.down[0][0][1].kernel_size == network.up[-1][1].kernel_size == (edge, edge)
    for h, w in ((17, 90), (37, 53), (64, 64)):
        out = network(torch.rand(2, 3, h, w) * 3 - 1)  # even out-of-range input
        assert out.shape == (2, 3, h, w)
        assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("variant", ["small", "instant"])
def test_one_photo_a_step_gets_the_true_gradient_in_vgg19s_layout(variant):
    """VGG19 hands the picture's gradient back channels-last; at one photo a step PyTorch's CPU
    instance norm turned that into wrong gradients (the training climbed its loss). Every
    parameter's gradient agrees with the contiguous one's and with a finite difference."""
    from nst.realtime.network import build_network

    torch.manual_seed(0)
    network = build_network(variant, False, False).double()
    photo = torch.rand(1, 3, 36, 52, dtype=torch.float64)
    cotangent = torch.randn(1, 3, 36, 52, dtype=torch.float64)
    parameters = list(network.parameters())
    plain = torch.autograd.grad(network(photo), parameters, cotangent.contiguous())
    nhwc = torch.autograd.grad(network(photo), parameters, cotangent.contiguous(memory_format=torch.channels_last))
    for a, b in zip(plain, nhwc):
        torch.testing.assert_close(b, a)
    norm = next(m for m in network.modules() if isinstance(m, torch.nn.InstanceNorm2d))
    with torch.no_grad():  # a finite difference along the first norm's gamma
        step = torch.zeros_like(norm.weight)
        step[0] = 1e-6
        norm.weight += step
        up = (network(photo) * cotangent).sum()
        norm.weight -= 2 * step
        down = (network(photo) * cotangent).sum()
    gamma = nhwc[[p is norm.weight for p in parameters].index(True)][0]
    assert abs(float((up - down) / 2e-6) - float(gamma)) < 1e-4 * max(1.0, abs(float(gamma)))


def test_from_photo_starts_as_the_photo_and_learns_the_change(tmp_path):
    """from_photo: the untrained network returns the photo; a step moves it; export keeps it."""
    import onnxruntime

    from nst.realtime.export import export_onnx

    torch.manual_seed(0)
    network = TransformerNet("small", from_photo=True)
    photo = torch.rand(1, 3, 37, 53).clamp(0.01, 0.99)
    assert (network(photo) - photo).abs().max() < 1e-5  # exactly the photo (sigmoid of its logit)
    target = torch.zeros_like(photo)
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3)
    first = (photo - target).square().mean()
    for _ in range(3):
        optimiser.zero_grad()
        (network(photo) - target).square().mean().backward()
        optimiser.step()
    with torch.no_grad():
        out = network(photo)
    assert (out - photo).abs().mean() > 1e-3 and (out - target).square().mean() < first  # it learnt a change
    session = onnxruntime.InferenceSession(str(export_onnx(network, tmp_path / "p.onnx")),
                                           providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"photo": photo.numpy()})[0] - out.numpy()).max() < 1e-4


def test_painting_colours_start_as_the_photo_in_the_paintings_colours(folder, tmp_path):
    """painting_colours: the untrained network returns the photo moved to the painting's colour mean
    and covariance (as the optimisation's style_colors start); the checkpoint, TorchScript and
    ONNX Runtime keep the painting's statistics; without from_photo it is refused in one line."""
    import onnxruntime

    from nst.media.color import match_color_histogram
    from nst.media.images import load_image
    from nst.realtime.export import export_onnx, export_torchscript

    model = make_model(folder, from_photo=True, painting_colours=True)
    model.configure_model()
    painting = load_image(folder["painting"])
    photo = load_image(next(folder["photos"].glob("p3.jpg")))
    with torch.no_grad():
        out = model(photo)
    expected = match_color_histogram(photo, painting).clamp(1e-3, 1 - 1e-3)
    assert (out - expected).abs().max() < 1e-4 and (out - photo).abs().mean() > 0.05  # recoloured, exactly
    for grey in (photo.mean(1, keepdim=True).expand(-1, 3, -1, -1), torch.full_like(photo, 0.4)):
        assert torch.isfinite(model(grey)).all()  # a rank-1 or flat covariance: still a picture
    network = model.network.eval()
    session = onnxruntime.InferenceSession(str(export_onnx(network, tmp_path / "c.onnx")),
                                           providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"photo": photo.numpy()})[0] - out.numpy()).max() < 1e-4
    scripted = torch.jit.load(str(export_torchscript(network, tmp_path / "c.pt")))
    assert (scripted(photo) - out).abs().max() < 1e-5
    with pytest.raises(Exception, match="painting_colours recolours the photo"):
        TransformerNet("small", from_photo=False, painting_colours=True)


def distances(model: FastStyleTransfer, photos: torch.Tensor, painting: torch.Tensor) -> tuple[float, float]:
    """(mean colour distance, Gram style loss) of the validation pictures to the painting."""
    with torch.no_grad():
        out = model(photos)
        style = model.objective.style(model.objective.vgg(out))
    return float((out.mean(dim=(0, 2, 3)) - painting.mean(dim=(0, 2, 3))).norm()), float(style)


def make_model(folder, **options) -> FastStyleTransfer:
    return FastStyleTransfer(style=str(folder["painting"]), style_size=64, network="small", weights="random",
                             style_weight=1e4, lr=1e-2, **options)  # 1e4: a random VGG's Gram values are tiny


@pytest.fixture(scope="module")
def trained(folder):
    """30 steps on 32 px crops, batch 2; the checkpoint written every 10 steps."""
    seed_everything(0)
    model = make_model(folder)
    data = PhotoDataModule(str(folder["photos"]), size=32, batch_size=2, val_photos=2)
    data.setup("fit")
    val = torch.stack([t for t in (data.val_dataloader().dataset[i] for i in range(2))])
    from nst.media.images import load_image

    painting = load_image(folder["painting"])
    model.configure_model()
    before = distances(model, val, painting)
    from lightning.pytorch.callbacks import ModelCheckpoint

    from nst.runs.outputs import RunLogger

    out = folder["root"] / "run"
    trainer = Trainer(max_steps=30, accelerator="cpu", precision="32-true", log_every_n_steps=1,
                      val_check_interval=10, check_val_every_n_epoch=None, enable_progress_bar=False,
                      enable_model_summary=False, logger=RunLogger(str(out), name="fast"),
                      callbacks=[ModelCheckpoint(dirpath=out / "ckpt", filename="last", every_n_train_steps=10,
                                                 save_top_k=-1)])
    losses = []

    original = model.training_step

    def step(batch, batch_idx):
        loss = original(batch, batch_idx)
        if loss.detach() != 0:  # 0: a batch of the broken photo alone
            losses.append(float(loss.detach()))
        return loss

    model.training_step = step
    trainer.fit(model, datamodule=data)
    after = distances(model, val, painting)
    return {"losses": losses, "before": before, "after": after, "data": data, "ckpt": out / "ckpt" / "last.ckpt",
            "run": out, "model": model}


def test_training_lowers_the_loss_and_moves_toward_the_painting(trained):
    losses = trained["losses"]
    assert len(losses) >= 28 and all(np.isfinite(losses))  # 30 steps, a batch of the broken photo alone skipped
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
    (colour_before, style_before), (colour_after, style_after) = trained["before"], trained["after"]
    # measured: colour 0.85x on one AVX2 machine and under 0.85x elsewhere, style 0.49x: the bounds leave room for every CPU
    assert colour_after < 0.92 * colour_before and style_after < 0.7 * style_before, (trained["before"], trained["after"])


def test_sliced_wasserstein_draws_new_directions_every_step(folder):
    """As in the optimisation: fixed directions would train the network on a few projections only."""
    model = make_model(folder, style_loss="sliced_wasserstein", style_layers=["relu1_1"])
    data = PhotoDataModule(str(folder["photos"]), size=32, batch_size=2, val_photos=2)
    seen, original = [], model.training_step

    def step(batch, batch_idx):
        loss = original(batch, batch_idx)
        sliced = next(m for m in model.objective.modules() if isinstance(m, SlicedWassersteinLoss))
        seen.append(sliced.directions.clone())
        return loss

    model.training_step = step
    Trainer(max_steps=3, accelerator="cpu", precision="32-true", limit_val_batches=0, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(model, datamodule=data)
    assert len(seen) == 3 and not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])


def test_linear_lr_decay_falls_to_zero_over_the_steps_and_the_clock(folder):
    """lr_decay linear: with max_steps 4 the rates of the four steps are lr x 1, 3/4, 1/2, 1/4;
    under a max_time budget the clock's share counts (a quarter of an hour spent: 3/4 left)."""
    from datetime import timedelta

    model = make_model(folder, lr_decay="linear")
    data = PhotoDataModule(str(folder["photos"]), size=32, batch_size=2, val_photos=2)
    rates, original = [], model.training_step

    def step(batch, batch_idx):
        rates.append(model.optimizers().param_groups[0]["lr"])
        model.trainer.should_stop = model.trainer.max_steps > 4  # the clock's run: its first step is enough
        return original(batch, batch_idx)

    model.training_step = step
    options = dict(accelerator="cpu", precision="32-true", limit_val_batches=0, logger=False,
                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    Trainer(max_steps=4, **options).fit(model, datamodule=data)
    assert rates == pytest.approx([1e-2, 7.5e-3, 5e-3, 2.5e-3])
    timer = Timer(duration=timedelta(hours=1))
    timer.load_state_dict({"time_elapsed": {"train": 900.0}})  # as a run resumed after 15 minutes
    trainer = Trainer(max_steps=1000, callbacks=[timer], **options)
    model, rates[:] = make_model(folder, lr_decay="linear"), []
    original, model.training_step = model.training_step, step
    trainer.fit(model, datamodule=data)
    assert len(rates) == 1 and rates[0] == pytest.approx(7.5e-3, rel=1e-3)


def test_linear_lr_decay_without_a_budget_is_one_line_before_the_first_step(folder):
    from nst.errors import ConfigError

    model = make_model(folder, lr_decay="linear")
    model.training_step = lambda *args: pytest.fail("no step should run")
    trainer = Trainer(max_epochs=-1, accelerator="cpu", precision="32-true", limit_val_batches=0, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ConfigError, match="needs a budget to decay over. Fix: --trainer.max_time"):
        trainer.fit(model, datamodule=PhotoDataModule(str(folder["photos"]), size=32, batch_size=2, val_photos=2))


DDP_DECAY = """
import sys, torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.strategies import DDPStrategy
from nst.realtime.module import FastStyleTransfer
from nst.realtime.photos import PhotoDataModule

class Keep(Callback):
    def on_train_batch_end(self, trainer, *args):
        trainer.should_stop = trainer.global_step >= 6  # the clock's share alone sets the rate until then
    def on_train_end(self, trainer, module):
        torch.save({"step": trainer.global_step, "weights": module.network.state_dict()},
                   f"{sys.argv[3]}/rank{trainer.global_rank}.pt")

if __name__ == "__main__":
    seed_everything(0)
    model = FastStyleTransfer(style=sys.argv[2], style_size=64, network="small", weights="random",
                              style_weight=1e4, lr=1e-2, lr_decay="linear")
    Trainer(max_steps=100000, max_time="00:00:10:00", accelerator="cpu", devices=2,
            strategy=DDPStrategy(broadcast_buffers=False),  # as train.py's: each device's content targets are its own
            precision="32-true", limit_val_batches=0, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, callbacks=[Keep()]).fit(
        model, datamodule=PhotoDataModule(sys.argv[1], size=32, batch_size=2, val_photos=2))
"""


def test_linear_lr_decay_under_ddp_keeps_the_devices_weights_identical(folder, tmp_path):
    """Two CPU processes under a time budget: each device's clock differs by a few ms, so each
    would step at its own rate and the weights drift apart (measured: by 5e-7 in 6 steps) unless
    every device takes rank 0's share."""
    import subprocess
    import sys

    from tests.test_model import fresh_env  # without an earlier test's MASTER_PORT, RANK, ...: it would wait for them

    script = tmp_path / "ddp_decay.py"
    script.write_text(DDP_DECAY)
    done = subprocess.run([sys.executable, str(script), str(folder["photos"]), str(folder["painting"]), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=fresh_env())
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["step"] == ranks[1]["step"] == 6
    assert all(torch.equal(ranks[0]["weights"][k], ranks[1]["weights"][k]) for k in ranks[0]["weights"])


def test_a_corrupt_photo_is_skipped_and_counted(trained):
    data = trained["data"]
    assert len(data.train_files) + len(data.val_files) == 9  # the broken file is among them ...
    assert data.skipped >= 1  # ... and was left out of its batch, counted, not a crash


def test_validation_grid_and_losses_reach_tensorboard(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(trained["run"].rglob("events.out.*")).parent))
    events.Reload()
    assert "val/stylised" in events.Tags()["images"]
    assert {"val/total", "val/style", "loss/total", "data/skipped"} <= set(events.Tags()["scalars"])


def test_checkpoint_holds_the_network_alone_with_its_record(trained, folder):
    checkpoint = torch.load(trained["ckpt"], weights_only=True)
    assert checkpoint["nst_realtime"]["network"] == "small" and checkpoint["nst_realtime"]["format"] == 1
    assert all(k.startswith("network.") for k in checkpoint["state_dict"])
    style = load_style(trained["ckpt"])
    photo = torch.rand(1, 3, 40, 52)
    expected = trained["model"].cpu()(photo)
    assert torch.allclose(style(photo, return_tensor=True), expected, atol=1e-5)
    # resume: Lightning's own, from the mid-run checkpoint, with the VGG19 left out of it
    resumed = make_model(folder)
    trainer = Trainer(max_steps=32, accelerator="cpu", precision="32-true", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, val_check_interval=100,
                      check_val_every_n_epoch=None)
    trainer.fit(resumed, datamodule=PhotoDataModule(str(folder["photos"]), size=32, batch_size=2, val_photos=2),
                ckpt_path=str(trained["ckpt"]))
    assert trainer.global_step == 32


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("nst_realtime"), "not a real-time style"),
    (lambda c: c["nst_realtime"].update(format=99), "format 99"),
    (lambda c: c["nst_realtime"].update(network="huge"), "network 'huge'"),
    (lambda c: c["nst_realtime"].update(network="johnson"), "do not fit the 'johnson' network"),
])
def test_a_mismatched_checkpoint_is_one_line(trained, tmp_path, change, message):
    checkpoint = torch.load(trained["ckpt"], weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, tmp_path / "x.ckpt")
    with pytest.raises(StyleCheckpointError, match=message) as error:
        load_style(tmp_path / "x.ckpt")
    assert "Fix:" in str(error.value) and "\n" not in str(error.value)


def test_api_and_outputs_carry_the_models_identity(trained, folder, tmp_path):
    import nst

    picture = nst.stylize(folder["photos"] / "p3.jpg", model=trained["ckpt"], size=48)
    assert picture.size == (48, 48)
    assert train.main(["stylize", "--model", str(trained["ckpt"]), "--input", str(folder["photos"] / "p3.jpg"),
                       "--output", str(tmp_path), "--size", "40"]) == 0
    text = Image.open(tmp_path / "p3.png").text
    assert text["nst:model_sha256"] == load_style(trained["ckpt"]).sha256
    assert json.loads(text["nst:config"])["network"] == "small"


def test_folder_resumes_after_a_kill(trained, folder, tmp_path, monkeypatch):
    import nst.realtime.predict as predict

    style, out = load_style(trained["ckpt"]), tmp_path / "styled"
    real_save, calls = predict.save_image, []

    class Killed(Exception):
        pass

    def dies_on_the_third(*args, **kwargs):
        if len(calls) == 2:
            raise Killed  # the process killed while the third picture is made
        calls.append(args[1])
        return real_save(*args, **kwargs)

    monkeypatch.setattr(predict, "save_image", dies_on_the_third)
    with pytest.raises(Killed):
        stylize_folder(style, folder["photos"], out, size=32, accelerator="cpu")
    monkeypatch.setattr(predict, "save_image", real_save)
    done = {Path(p): Path(p).stat().st_mtime_ns for p in calls}
    assert len(done) == 2
    (out / ".p5-x1y2.png.tmp").write_bytes(b"\x89PNG half")  # a kill in the middle of a write leaves one
    written, finished, first = stylize_folder(style, folder["photos"], out, size=32, accelerator="cpu")
    assert (written, finished, first) == (6, 2, True)  # 8 photos and the broken one, which stays unwritten
    assert {p: p.stat().st_mtime_ns for p in done} == done  # the finished two untouched
    assert (out / "sub" / "p0.png").is_file() and not (out / "broken.png").exists()
    assert not list(out.rglob("*.tmp"))  # the half-written file is gone


def test_folder_on_two_devices_paints_each_photo_once(trained, folder, tmp_path):
    """stylize --devices 2 (DDP, two CPU processes): every photo written once, by one of the two,
    as one process writes it (to a grey level); the count said once; a second run finds them all finished."""
    import subprocess
    import sys

    from tests.conftest import PROJECT
    from tests.test_model import fresh_env

    one = tmp_path / "one"
    assert stylize_folder(load_style(trained["ckpt"]), folder["photos"], one, size=32, accelerator="cpu")[0] == 8
    command = [sys.executable, str(PROJECT / "train.py"), "stylize", "--model", str(trained["ckpt"]), "--input",
               str(folder["photos"]), "--output", str(tmp_path / "two"), "--size", "32", "--accelerator", "cpu",
               "--devices", "2"]
    for said in ("nst: 8 written, 0 already there", "nst: 0 written, 8 already there"):
        done = subprocess.run(command, cwd=tmp_path, env=fresh_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.count(said) == 1, done.stdout  # the first device reports, for both
    for picture in one.rglob("*.png"):
        twin = tmp_path / "two" / picture.relative_to(one)
        difference = np.abs(np.asarray(Image.open(twin), np.int16) - np.asarray(Image.open(picture), np.int16))
        assert difference.max() <= 1  # (each process has its own thread count: sums in another order)
    assert len(list((tmp_path / "two").rglob("*"))) == len(list(one.rglob("*")))  # nothing more (no torn files)


def test_onnx_and_torchscript_match_pytorch_on_two_sizes(trained, tmp_path):
    import onnxruntime

    ckpt = str(trained["ckpt"])
    for name in ("s.onnx", "s.pt"):
        assert train.main(["export", "--model", ckpt, "--output", str(tmp_path / name)]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    scripted = torch.jit.load(str(tmp_path / "s.pt"))
    network = load_style(ckpt).network
    for h, w in ((37, 53), (64, 96)):  # neither a multiple of 4 nor the export's example size
        photo = torch.rand(1, 3, h, w)
        with torch.no_grad():
            expected = network(photo)
        out = session.run(None, {"photo": photo.numpy()})[0]
        assert out.shape == (1, 3, h, w)
        assert np.abs(out - expected.numpy()).max() < 1e-4  # float32 kernels differ: measured ~1e-6
        assert (scripted(photo) - expected).abs().max() < 1e-5
    # the ONNX file is a style of its own: ONNX Runtime paints, the outputs name the model
    onnx_style = load_style(tmp_path / "s.onnx")
    as_json = lambda d: json.loads(json.dumps(d, default=str))  # noqa: E731 - tuples come back as lists
    assert onnx_style.record == load_style(ckpt).record and onnx_style.config == as_json(load_style(ckpt).config)
    photo = torch.rand(1, 3, 40, 44)
    with torch.no_grad():
        expected = network(photo)
    assert (nst.stylize(photo, model=str(tmp_path / "s.onnx"), return_tensor=True) - expected).abs().max() < 1e-4
    assert onnx_style.metadata["nst:model"].endswith("s.onnx") and onnx_style.metadata["nst:network"] == "small"
    assert train.main(["export", "--model", str(tmp_path / "s.onnx"), "--output", str(tmp_path / "t.onnx")]) == 2


def test_stylize_refuses_bad_devices_in_one_line(trained, folder, tmp_path, capsys):
    common = ["stylize", "--model", str(trained["ckpt"]), "--output", str(tmp_path / "out")]
    for devices, source in (("0", folder["photos"]), ("2", folder["photos"] / "p3.jpg")):
        assert train.main([*common, "--input", str(source), "--devices", devices]) == 2
        assert "Fix: --devices 1" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_cli_without_photos_says_how_in_one_line(capsys):
    assert train.main(["--config", "fast_starry.yaml", "--model.weights", "random"]) == 2
    line = one_line_error(capsys)
    assert "--data.photos DIR" in line and "Fix:" in line


def test_cli_trains_a_style_in_one_command(folder, tmp_path, capsys):
    args = ["--config", "fast_starry.yaml", "--data.photos", str(folder["photos"]), "--model.style",
            str(folder["painting"]), "--model.weights", "random", "--model.network", "small", "--data.size", "32",
            "--data.batch_size", "2", "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu",
            "--trainer.precision", "32-true", "--output_dir", str(tmp_path)]
    assert train.main(args) == 0
    assert (tmp_path / "fast_starry" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    bar = capsys.readouterr().out
    assert "epoch 1/1 step" in bar and "v_num" not in bar and "Epoch" not in bar, bar[-400:]  # the run's own bar


def test_a_video_frame_by_frame(trained, tmp_path, capsys):
    import av

    from tests.conftest import ASSETS

    out = tmp_path / "tree.mp4"
    assert train.main(["stylize", "--model", str(trained["ckpt"]), "--input", str(ASSETS / "tree.avi"),
                       "--output", str(out), "--size", "32"]) == 0
    with av.open(str(ASSETS / "tree.avi")) as source, av.open(str(out)) as result:
        frames = sum(1 for _ in source.decode(video=0))
        stream = result.streams.video[0]
        assert (stream.width, stream.height) == (32, 24)
        assert sum(1 for _ in result.decode(video=0)) == frames
    assert f"({frames} frames in " in capsys.readouterr().out  # the rate, said


def test_studio_lists_trained_styles_and_paints_a_dropped_photo(trained, folder, tmp_path):
    import shutil

    from nst.studio.realtime import paint, trained_styles

    for name, task in (("fast/version_0", "realtime"), ("starry/version_0", None)):
        run = tmp_path / name
        (run / "checkpoints").mkdir(parents=True)
        shutil.copy(trained["ckpt"], run / "checkpoints" / "last.ckpt")
        (run / "config.yaml").write_text(f"task: {task}\n" if task else "data: {}\n")
    styles = trained_styles(tmp_path)
    assert [label for label, _ in styles] == ["fast/version_0"]  # the optimisation's run is not a style
    picture, message = paint(styles[0][1], str(folder["photos"] / "p3.jpg"), 40)
    assert picture.size == (40, 40) and message == ""
    assert paint(styles[0][1], None, 40) == (None, "Drop a photo.")
